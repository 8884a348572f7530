"""``bench latency``: per-step and whole-sequence latency of models, side by side in one run.

Rows are timed in groups of equal (threads, batch): every model on every provider, plus
the TensorFlow and LSTM baselines, round-robin in short bursts (:mod:`.interleave`), so the
ratios within a group hold on a noisy machine. Step graphs are timed per step
(``StreamingSession.step``) and, with ``--sequence T``, over whole sequences
(``StreamingSession.run`` rolls them); sequence graphs are timed over whole sequences of
T = ``--sequence`` or, without it, the model's T (its encoding's). With ``--chunk K``,
models that stream (step graphs, free-T sequence graphs) are also timed per chunk of K
steps (``StreamingSession.step`` on ``[B, K, F]``), and a free-T sequence graph per step
too. Each chunk row has a baseline row, K single ``step`` calls timed as one call (mode
``steps``): a chunk's ``/ steps`` is its p50 over that row's. Timing the K steps together,
rather than multiplying one step's p50 by K, keeps the two exposed alike to a busy
machine's interruptions, which land on long calls more often than on short ones.

TensorFlow fixes its thread count once per process, so the TensorFlow rows (``--tf``,
``--lstm``) run with the first ``--threads`` value only; rows at other thread counts get no
ratio. TensorFlow rows run on CPU whatever ``--provider`` says.

Use :func:`plan` (checks every input, fails fast with a :class:`SnudeployError`) then
:func:`run`.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import arguments
from ..errors import ConfigurationError, ModelFileError, ProviderError
from ..metadata import ModelInfo
from ..runtime import cuda_unavailable_reason, load_model
from ..runtime.providers import PROVIDERS
from ..spec import ModelSpec
from . import environment, interleave, schema, stats
from .candidates import Candidate, FloorStep, StreamStep, spike_inputs, streaming_session
from .tables import short_labels

BURST = 5  # calls per candidate per round


@dataclass(frozen=True)
class Target:
    """One ONNX model and what to time of it: ``modes`` = ((mode, timesteps), ...)."""
    path: Path
    label: str
    info: ModelInfo
    modes: tuple


@dataclass(frozen=True)
class LatencyPlan:
    """A checked benchmark: what to time, how, and against which baselines."""
    targets: tuple
    batches: tuple
    threads: tuple
    providers: tuple
    warmup: int
    iters: int
    sequence: int | None
    tf: Path | None
    lstm: Path | None
    chunk: int | None = None

    def groups(self) -> list[tuple[int, int]]:
        """(threads, batch) of each group, in run order."""
        return [(threads, batch) for threads in self.threads for batch in self.batches]

    @property
    def total_rounds(self) -> int:
        return len(self.groups()) * interleave.rounds(self.iters, BURST)

    def settings(self) -> dict:
        return {"models": [str(t.path) for t in self.targets], "batches": list(self.batches),
                "threads": list(self.threads), "providers": list(self.providers), "warmup": self.warmup,
                "iters": self.iters, "burst": BURST, "sequence": self.sequence, "chunk": self.chunk,
                "tf": str(self.tf) if self.tf else None, "lstm": str(self.lstm) if self.lstm else None,
                "statistic": "p50 (ratios), mean (throughput)"}


def parse_counts(text: str, option: str, limit: str) -> tuple[int, ...]:
    """'1,16,256' -> (1, 16, 256); each a positive integer up to ``LIMITS[limit]``."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise ConfigurationError(f"{option} needs at least one positive integer, got {text!r}.")
    try:
        values = tuple(int(item) for item in items)
    except ValueError:
        raise ConfigurationError(f"{option} takes comma-separated positive integers, got {text!r}.") from None
    for value in values:
        arguments.limited(value, option, limit)
    return tuple(dict.fromkeys(values))


def parse_providers(text: str) -> tuple[str, ...]:
    """'cpu,cuda' -> ('cpu', 'cuda'); a provider this machine cannot run is an error, not a fallback."""
    names = tuple(dict.fromkeys(item.strip().lower() for item in str(text).split(",") if item.strip()))
    if not names:
        raise ConfigurationError(f"--provider needs at least one of {', '.join(PROVIDERS)}, got {text!r}.")
    unknown = [n for n in names if n not in PROVIDERS]
    if unknown:
        raise ConfigurationError(f"Unknown provider(s) {unknown}; choose from {', '.join(PROVIDERS)}.")
    if "cuda" in names and (reason := cuda_unavailable_reason()) is not None:
        raise ProviderError(f"Provider cuda is not available: {reason}. A benchmark does not fall back to "
                            "CPU; drop cuda from --provider.")
    return names


def plan(models, batches: str = "1", threads: str = "1", providers: str = "cpu", warmup: int = 10,
         iters: int = 200, sequence: int | None = None, tf=None, lstm=None, chunk: int | None = None) -> LatencyPlan:
    """Check every input and describe the run; raise a :class:`SnudeployError` on bad input."""
    if not models:
        raise ConfigurationError("Give at least one MODEL.onnx to time.")
    batch_list, thread_list = parse_counts(batches, "--batch", "batch"), parse_counts(threads, "--threads", "threads")
    provider_list = parse_providers(providers)
    warmup = arguments.integer(warmup, "--warmup", 0, 100_000)
    iters = arguments.integer(iters, "--iters", 1, 1_000_000)
    sequence = arguments.optional_integer(sequence, "--sequence", 1, arguments.LIMITS["timesteps"])
    chunk = arguments.optional_integer(chunk, "--chunk", 1, arguments.LIMITS["timesteps"])
    targets = tuple(_target(Path(m), label, sequence, chunk) for m, label in zip(models, short_labels(models)))
    features = {t.info.features for t in targets}
    for option, checkpoint, kind in (("--tf", tf, "snu"), ("--lstm", lstm, "lstm")):
        if checkpoint is not None:
            _check_checkpoint(option, Path(checkpoint), kind, features)
    return LatencyPlan(targets, batch_list, thread_list, provider_list, int(warmup), int(iters), sequence,
                       Path(tf) if tf else None, Path(lstm) if lstm else None, chunk)


def run(plan: LatencyPlan, on_round=None) -> dict:
    """Time every row of ``plan``; return the JSON document (see :mod:`.schema`)."""
    tf_threads, programs, lstm_onnx = None, [], {}
    if plan.tf or plan.lstm:
        from . import keras_candidates

        tf_threads = keras_candidates.configure(plan.threads[0])
        programs = [keras_candidates.program(ckpt) for ckpt in (plan.tf, plan.lstm) if ckpt]
        lstm_onnx = {p.checkpoint: keras_candidates.lstm_onnx(p) for p in programs if p.spec.model == "lstm"}
    warnings = []
    if tf_threads and tf_threads["intra_op"] != plan.threads[0]:
        warnings.append(f"TensorFlow was already initialised in this process with intra-op threads = "
                        f"{tf_threads['intra_op']} (0: its default); its rows say so and have no ratio "
                        f"unless that matches a --threads value.")
    env = environment.describe(list(plan.threads), tf_threads)
    records = []
    for threads, batch in plan.groups():
        candidates = _ort_candidates(plan, threads, batch)
        if programs and threads == plan.threads[0]:
            candidates += _keras_candidates(plan, programs, lstm_onnx, threads, tf_threads, batch)
        timed = interleave.interleave({str(i): c.call for i, c in enumerate(candidates)}, plan.iters, BURST,
                                      plan.warmup, on_round=on_round)
        for i, candidate in enumerate(candidates):
            row = candidate.row
            records.append({**row, **stats.summarize(timed[str(i)], row["batch"], row["timesteps"])})
    stats.add_ratios(records)
    warnings += [stats.noise_warning(r) for r in records if r["noisy"]]
    return {"schema_version": schema.SCHEMA_VERSION, "kind": "latency", "settings": plan.settings(),
            "environment": env, "records": records, "warnings": warnings}


def _target(path: Path, label: str, sequence: int | None, chunk: int | None = None) -> Target:
    loaded = load_model(path)  # checks the file fully, fails fast
    info = loaded.info
    encoded_t = info.encoding.timesteps if info.encoding else None
    streams = info.graph == "step" or loaded.fixed_timesteps is None  # steps and chunks of any K
    chunked = (("step", 1), ("chunk", chunk)) if chunk and streams else ()
    if info.graph == "step":
        modes = (("step", 1),) + ((("sequence", sequence),) if sequence else ()) + chunked[1:]
    elif info.timesteps:  # a sequence graph built for one T (unrolled)
        if sequence not in (None, info.timesteps):
            raise ConfigurationError(f"{path} only runs sequences of T={info.timesteps}, not --sequence "
                                     f"{sequence}. Export it with --timesteps {sequence}, or leave it out.")
        modes = (("sequence", int(info.timesteps)),)
    elif sequence or encoded_t:
        modes = (("sequence", int(sequence or encoded_t)),) + chunked
    else:
        raise ConfigurationError(f"{path} is a sequence graph whose metadata gives no T; pass --sequence T.")
    return Target(path, label, info, modes)


def _check_checkpoint(option: str, checkpoint: Path, kind: str, features: set) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        raise ConfigurationError(f"{option} needs TensorFlow: pip install '.[train]' (in a clone) or "
                                 "'snudeploy[train]'.")
    spec = ModelSpec.load(checkpoint)
    if spec.model != kind:
        raise ModelFileError(f"{option} {checkpoint} holds a {spec.model!r} network; {option} takes a "
                             f"{kind!r} checkpoint.")
    if features != {spec.input_features}:
        raise ConfigurationError(f"{option} {checkpoint} takes {spec.input_features} input features, but the "
                                 f"models take {sorted(features)}; compare networks of the same input.")


def _row(target_fields: dict, provider: str, batch: int, threads: int, mode: str, timesteps: int, api: str,
         load_seconds: float | None = None) -> dict:
    return {**target_fields, "provider": provider, "batch": batch, "threads": threads, "mode": mode,
            "timesteps": timesteps, "api": api,
            "load_ms": None if load_seconds is None else round(load_seconds * 1e3, 2)}


def _inputs(cache: dict, batch: int, timesteps: int, features: int, max_spikes: float):
    key = (batch, timesteps, features, max_spikes)
    if key not in cache:
        cache[key] = spike_inputs(batch, timesteps, features, max_spikes)
    return cache[key]


def _ort_candidates(plan: LatencyPlan, threads: int, batch: int) -> list[Candidate]:
    candidates, cache = [], {}
    for provider in plan.providers:
        for target in plan.targets:
            info = target.info
            started = time.perf_counter()
            session = streaming_session(target.path, provider, threads)
            loaded = time.perf_counter() - started
            fields = {"model": str(target.path), "label": target.label, "format": info.format,
                      "graph": info.graph, "network": "snu", "units": info.units,
                      "quantization": info.quantization.method, "framework": "onnxruntime"}
            encoding = info.encoding
            frames_t = encoding.timesteps if encoding else 20
            spikes = encoding.benchmark_spikes if encoding else frames_t / 4
            for mode, timesteps in target.modes:
                frames = {"step": frames_t, "chunk": timesteps * -(-frames_t // timesteps)}.get(mode, timesteps)
                x = _inputs(cache, batch, frames, info.features, spikes)
                if mode == "sequence":
                    call, api = (lambda s=session, x=x: s.run(x)), "StreamingSession.run"
                else:
                    call, api = StreamStep(session, x, timesteps), "StreamingSession.step"
                row = _row(fields, session.provider, batch, threads, mode, timesteps, api, loaded + _first(call))
                candidates.append(Candidate(row, call))
                if mode == "chunk":  # its baseline: K single steps of other streams, timed as one call
                    steps = StreamStep(session, x)
                    candidates.append(Candidate(_row(fields, session.provider, batch, threads, "steps", timesteps,
                                                     "StreamingSession.step x K"),
                                                lambda steps=steps, k=timesteps: [steps() for _ in range(k)]))
                if mode == "step" and info.graph == "step":
                    floor = {**fields, "label": f"{target.label} (floor)"}
                    candidates.append(Candidate(_row(floor, session.provider, batch, threads, mode, timesteps,
                                                      "bare IOBinding (floor)"), FloorStep(session.engine, x)))
    return candidates


def _first(call) -> float:
    """Seconds of the first call (binding, allocation): with the session's load, the time to first step."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _keras_candidates(plan: LatencyPlan, programs, lstm_onnx: dict, threads: int, tf_threads: dict,
                      batch: int) -> list[Candidate]:
    from .keras_candidates import TFSequence, TFStep

    tf_provider = "tensorflow-gpu" if tf_threads["gpus_visible"] else "tensorflow-cpu"
    modes = list(dict.fromkeys(mode for target in plan.targets for mode in target.modes if mode[0] != "chunk"))
    candidates, cache = [], {}
    for prog in programs:
        spec = prog.spec
        fields = {"model": str(prog.checkpoint), "network": spec.model, "units": spec.units,
                  "quantization": spec.quantization_method}
        keras = {**fields, "label": f"{prog.checkpoint.name} (keras)", "format": "keras", "framework": "tensorflow"}
        onnx_models = lstm_onnx.get(prog.checkpoint, {})
        sessions = {(provider, graph): streaming_session(model, provider, threads)
                    for provider in plan.providers for graph, model in onnx_models.items()}
        for mode, timesteps in modes:
            frames_t = spec.encoding.timesteps if mode == "step" else timesteps
            x = _inputs(cache, batch, frames_t, spec.input_features, spec.encoding.benchmark_spikes)
            graph = "step" if mode == "step" else "sequence"
            x32 = x.astype(np.float32)  # what the tf.functions take
            call = TFStep(prog, x32) if mode == "step" else TFSequence(prog, x32)
            candidates.append(Candidate(_row({**keras, "graph": graph}, tf_provider, batch, tf_threads["intra_op"],
                                             mode, timesteps, "tf.function"), call))
            for provider in plan.providers if onnx_models else ():
                session = sessions[provider, graph]
                native = {**fields, "label": f"{prog.checkpoint.name} (onnx LSTM)", "format": "lstm", "graph": graph,
                          "framework": "onnxruntime"}
                call = StreamStep(session, x) if mode == "step" else (lambda s=session, x=x: s.run(x))
                api = "StreamingSession.step" if mode == "step" else "StreamingSession.run"
                candidates.append(Candidate(_row(native, PROVIDERS[provider], batch, threads, mode, timesteps, api),
                                            call))
    return candidates
