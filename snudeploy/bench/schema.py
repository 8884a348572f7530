"""The JSON that ``snudeploy bench latency|accuracy|serve|train --json`` writes, declared as data.

One document per run::

    {"schema_version": 1, "kind": "latency" | "accuracy" | "serve" | "train" | "profile",
     "settings": {...the run's options...}, "environment": {...see ENVIRONMENT...},
     "records": [{...one row of the table, see LATENCY / ACCURACY / SERVE / TRAIN / PROFILE...}, ...],
     "warnings": ["...", ...]}

Every record of an exported model names what ran (``model``, ``format``, ``provider``,
``batch``, ``threads`` and the other fields of ``COMMON``) and its figures; a ``train``
record, where nothing is exported, names the network and its recipe instead. ``schema_version`` changes when a
field is removed or changes meaning; new fields may appear without a version change, so
readers should ignore keys they do not know. :func:`validate` checks a document against
these declarations (the tests use it on real output).
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1
KINDS = ("latency", "accuracy", "serve", "train", "profile")


@dataclass(frozen=True)
class Field:
    """One key: its name, JSON type (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``) and meaning."""
    name: str
    type: type
    doc: str
    nullable: bool = False


COMMON = (
    Field("model", str, "the ONNX file as given, or the checkpoint folder of TensorFlow rows"),
    Field("label", str, "short name used in tables and plots"),
    Field("format", str, "export format (step, unrolled, loop, customop); 'keras' for TensorFlow rows"),
    Field("graph", str, "'step' (one time step) or 'sequence' (whole sequence): the graph or tf.function"),
    Field("network", str, "'snu', or 'lstm' for the LSTM baseline"),
    Field("units", list, "units per layer, output layer last"),
    Field("quantization", str, "'none', 'ptq' or 'qat'"),
    Field("framework", str, "'onnxruntime' or 'tensorflow'"),
    Field("provider", str, "the provider in use: CPUExecutionProvider or CUDAExecutionProvider; "
                                 "TensorFlow rows: tensorflow-cpu / tensorflow-gpu (latency), tensorflow (accuracy)"),
    Field("batch", int, "streams stepped together (mode step) or sequences per call (mode sequence)"),
    Field("threads", int, "intra-op threads; TensorFlow rows: as configured, 0 = TensorFlow's default"),
)

LATENCY = COMMON + (
    Field("mode", str, "'step': one call advances every stream one time step; 'chunk': one call advances every "
                       "stream K = timesteps steps from its state (StreamingSession.step on [B, K, F]); 'steps': K "
                       "single step calls timed as one (a chunk row's baseline); 'sequence': one call runs T steps "
                       "from zero state"),
    Field("api", str, "what was called: StreamingSession.step / .run (the runtime, as applications call it), "
                      "'bare IOBinding (floor)' (the same graph with no runtime around it), or tf.function"),
    Field("load_ms", float, "time to first step: session load and first call, milliseconds (runtime rows)",
          nullable=True),
    Field("timesteps", int, "time steps per call: 1 in mode step, K in modes chunk and steps, T in mode sequence"),
    Field("samples", int, "timed calls"),
    Field("p50_us", float, "median call latency, microseconds"),
    Field("p90_us", float, "90th percentile call latency, microseconds"),
    Field("p99_us", float, "99th percentile call latency, microseconds"),
    Field("mean_us", float, "mean call latency, microseconds"),
    Field("min_us", float, "fastest call, microseconds"),
    Field("max_us", float, "slowest call, microseconds"),
    Field("throughput", float, "stream-steps per second: batch x timesteps / mean latency"),
    Field("ratio_to_tf", float, "speed-up over TensorFlow: p50 of the SNU TensorFlow row with the same mode, "
                                "timesteps, batch and threads divided by this row's p50 (> 1: faster than TF); "
                                "null without --tf or without such a row", nullable=True),
    Field("over_floor", float, "this row's p50 / p50 of the same model's bare IOBinding floor row (the cost of "
                               "the runtime around ONNX Runtime); null for rows without a floor", nullable=True),
    Field("over_steps", float, "mode chunk: this row's p50 / p50 of the same model's mode-steps row (K single steps "
                               "timed as one, same provider, batch and threads): what a chunk costs against K "
                               "single steps (< 1: cheaper); null for other rows", nullable=True),
    Field("noisy", bool, "max_us > 2 x min_us: the machine was noisy while this row ran"),
)

ACCURACY = COMMON + (
    Field("dataset", str, "dataset whose test split ran"),
    Field("samples", int, "test samples"),
    Field("timesteps", int, "T of the encoding (the model's metadata)"),
    Field("accuracy", float, "test accuracy: argmax of the readout's scores (the mean output rate over T, or a "
                             "membrane value), each sequence for its own length"),
    Field("tf_accuracy", float, "the Keras checkpoint's accuracy on the same encoded data (--tf)", nullable=True),
    Field("agreement_with_tf", float, "fraction of samples where this row and the Keras checkpoint predict "
                                      "the same class (--tf)", nullable=True),
    Field("input_spikes_per_sample", float, "encoded input spikes per sample (real-valued input: its non-zero "
                                            "values)"),
    Field("spikes_per_sample", list, "spikes per sample of each layer (sSNU: summed outputs; a membrane readout's "
                                     "output layer: null); null for a layer "
                                     "the graph does not expose (hidden layers of sequence graphs)"),
    Field("synops_per_sample", float, "synaptic operations per sample: sum over layers of (spikes into the layer) "
                                      "x units [+ recurrent: the layer's spikes x units]; null when a hidden "
                                      "layer is not exposed", nullable=True),
    Field("dense_macs_per_sample", float, "multiply-accumulates per sample of the same network run densely: "
                                          "T x sum of fan-in x units [+ recurrent units^2]"),
    Field("synops_per_mac", float, "synops_per_sample / dense_macs_per_sample", nullable=True),
    Field("anytime_accuracy", list, "accuracy of argmax of the running output rate after t = 1..T steps "
                                    "(ties, including no output spike yet, go to the lower class)"),
)

SERVE = COMMON + (
    Field("server", str, "'triton' (requests over gRPC on loopback) or 'in-process' (StreamingSession.step calls)"),
    Field("backend", str, "Triton backend ('python') or null for in-process rows", nullable=True),
    Field("strategy", str, "Triton sequence-batcher strategy (direct, oldest); null for in-process rows",
          nullable=True),
    Field("instances", int, "Triton model instances; 1 for in-process rows"),
    Field("sequences", int, "sequences in flight at once (Triton: concurrent client loops; in-process: open streams)"),
    Field("steps", int, "time steps per sequence (T)"),
    Field("chunk", int, "time steps per call or request (K; a sequence's last chunk is shorter when K does not "
                        "divide T); 1: one step per call or request"),
    Field("samples", int, "timed requests (Triton) or step calls (in-process)"),
    Field("stream_steps", int, "stream-steps done: one stream advanced one time step"),
    Field("seconds", float, "wall time of the timed part"),
    Field("capped", bool, "the duration cap stopped the run before every sequence finished"),
    Field("errors", int, "requests that failed"),
    Field("p50_us", float, "median latency per request (Triton) or per call (in-process), microseconds"),
    Field("p99_us", float, "99th percentile latency, microseconds"),
    Field("mean_us", float, "mean latency, microseconds"),
    Field("throughput", float, "stream-steps per second: stream_steps / seconds"),
    Field("queue_us", float, "Triton: mean microseconds a timed request waited in the sequence batcher's queue "
                             "(Triton's statistics); null for in-process rows", nullable=True),
    Field("backend_us", float, "Triton: mean microseconds per timed request in the backend (inputs to the Python "
                               "stub, its execute with the model, outputs back: Triton's compute statistics, an "
                               "execution's time counted for each request in it); null for in-process rows",
          nullable=True),
    Field("execute_us", float, "Triton: mean microseconds per timed request in the Python model's execute (reading "
                               "requests, the model, writing responses; counted as backend_us is); null for "
                               "in-process rows", nullable=True),
    Field("model_us", float, "Triton: mean microseconds per timed request stepping the streams inside execute "
                             "(StreamingSession calls and stream bookkeeping; counted as backend_us is); null for "
                             "in-process rows", nullable=True),
    Field("requests_per_execution", float, "Triton: timed requests per model execution (how many the sequence "
                                           "batcher batched); null for in-process rows", nullable=True),
    Field("client_cpu_us", float, "Triton: CPU microseconds per timed request of the client (the bench's process: "
                                  "tritonclient over gRPC); null for in-process rows", nullable=True),
    Field("server_cpu_us", float, "Triton: CPU microseconds per timed request of the tritonserver process (gRPC "
                                  "front end, sequence batcher, backend); null for in-process rows", nullable=True),
    Field("stub_cpu_us", float, "Triton: CPU microseconds per timed request of the Python-backend stubs (the "
                                "model's process); null for in-process rows", nullable=True),
    Field("cores", float, "Triton: CPU seconds of client, server and stubs together / wall seconds: the cores the "
                          "three kept busy; null for in-process rows", nullable=True),
)

TRAIN = (
    Field("label", str, "short name used in tables and plots"),
    Field("network", str, "'snu', or 'lstm' for the same-size LSTM baseline"),
    Field("units", list, "units per layer, output layer last"),
    Field("parameters", int, "trainable weights (an LSTM layer has four gates)"),
    Field("dataset", str, "dataset trained on"),
    Field("train_samples", int, "training samples per epoch"),
    Field("test_samples", int, "test samples of test_accuracy"),
    Field("timesteps", int, "T of the rate encoding"),
    Field("batch", int, "samples per training step (per replica)"),
    Field("optimizer", str, "'sgd' or 'adam'"),
    Field("lr", float, "learning rate"),
    Field("framework", str, "'tensorflow' (Keras: see settings.keras)"),
    Field("xla", bool, "training steps compiled with XLA (jit_compile)"),
    Field("steps_per_execution", int, "training steps per call into TensorFlow"),
    Field("epochs", int, "epochs trained"),
    Field("epoch_seconds", list, "wall time of each epoch, seconds; the first includes tracing and compilation"),
    Field("seconds_per_epoch", float, "median of epoch_seconds"),
    Field("samples_per_second", float, "train_samples / seconds_per_epoch"),
    Field("test_accuracy", float, "accuracy on the test split after the last epoch"),
    Field("ratio_to_snu", float, "seconds_per_epoch / the SNU row's: the LSTM row's is the LSTM/SNU epoch-time ratio"),
    Field("noisy", bool, "epochs after the first differ by over 1.5x: the machine was busy"),
)

PROFILE = COMMON + (
    Field("part", str, "what the row accounts for: the empty call, one matrix product (with its shapes), the other "
                       "nodes, or the whole bare call"),
    Field("kind", str, "'call': an empty one-node call (any call's cost); 'product': one MatMul/Gemm/MatMulInteger "
                       "alone, minus the empty call; 'rest': the bare call minus all rows above it; 'total': the "
                       "bare call"),
    Field("nodes", int, "nodes the row covers"),
    Field("us_per_call", float, "median microseconds per call, timed interleaved with the other parts"),
    Field("share", float, "us_per_call / the bare call's median"),
)

ENVIRONMENT = (
    Field("cpu_model", str, "CPU model name from /proc/cpuinfo (platform.processor() elsewhere)"),
    Field("vector_extensions", list, "SIMD extensions ONNX Runtime's kernels depend on (AVX2, AVX-512F, "
                                     "AVX-512 VNNI, ...): int8 and float speed differ by them"),
    Field("logical_cores", int, "os.cpu_count()"),
    Field("usable_cores", int, "cores this process may run on (sched_getaffinity)"),
    Field("load_average", list, "1, 5 and 15 minute load averages when the run started", nullable=True),
    Field("platform", str, "platform.platform()"),
    Field("versions", dict, "python, snudeploy, numpy, onnx, onnxruntime, tensorflow, tf2onnx (null: not installed)"),
    Field("available_providers", list, "onnxruntime.get_available_providers()"),
    Field("cuda", str, "why the CUDA provider cannot run here; null when it can", nullable=True),
    Field("threads", dict, "thread settings: onnxruntime intra-op (the rows' threads) and inter-op, "
                           "TensorFlow intra-/inter-op when it ran, OMP_NUM_THREADS"),
)

DOCUMENT = (
    Field("schema_version", int, "SCHEMA_VERSION of the writer"),
    Field("kind", str, "'latency', 'accuracy', 'serve', 'train' or 'profile'"),
    Field("settings", dict, "the options of the run"),
    Field("environment", dict, "the machine and software, see ENVIRONMENT"),
    Field("records", list, "one object per table row, see LATENCY, ACCURACY, SERVE, TRAIN or PROFILE"),
    Field("warnings", list, "noise and other warnings, one string each"),
)

RECORDS = {"latency": LATENCY, "accuracy": ACCURACY, "serve": SERVE, "train": TRAIN, "profile": PROFILE}


def validate(document: dict) -> list[str]:
    """Every way ``document`` departs from the schema (empty when it conforms)."""
    problems = _check(document, DOCUMENT, "document")
    if problems:
        return problems
    if document["kind"] not in KINDS:
        return [f"document: kind must be one of {KINDS}, got {document['kind']!r}"]
    problems += _check(document["environment"], ENVIRONMENT, "environment")
    for i, record in enumerate(document["records"]):
        problems += _check(record, RECORDS[document["kind"]], f"records[{i}]")
    problems += [f"warnings[{i}] is not a string" for i, w in enumerate(document["warnings"]) if not isinstance(w, str)]
    return problems


def _check(obj, fields: tuple[Field, ...], where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where} is not an object"]
    problems = []
    for field in fields:
        if field.name not in obj:
            problems.append(f"{where}: missing {field.name!r}")
            continue
        value = obj[field.name]
        if value is None:
            if not field.nullable:
                problems.append(f"{where}.{field.name} is null")
        elif not _is(value, field.type):
            problems.append(f"{where}.{field.name} should be {field.type.__name__}, got {type(value).__name__}")
    return problems


def _is(value, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)
