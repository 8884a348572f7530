"""Triton model configurations for a snudeploy model: the sequence batcher, declared as data.

Two variants serve the same client contract (input ``x`` ``[K, *input]`` FP32: a chunk of
K >= 1 consecutive time steps of one sequence, K free per request up to ``max_chunk``;
output ``spikes`` ``[K, C]`` FP32; batch size 1, the sequence id and START/END flags on
every request):

* :func:`python_config`: the Python backend runs ``snudeploy.runtime`` and keeps one
  stream per correlation id itself, so Triton passes it all four controls: START (open or
  reset the stream), END (close it), READY (0 marks an empty batch slot, which the model
  skips) and CORRID (which stream a request belongs to). It refuses chunks longer than
  ``max_chunk``.
* :func:`onnxruntime_config`: the ONNX Runtime backend runs a sequence graph (dynamic T)
  with *implicit state*: Triton stores every state tensor per sequence between requests
  (``state`` entries, zeros at START), and passes START and READY into the graph
  (:mod:`.stateful`), which zeroes its own state at START. The graph takes any K: ONNX
  Runtime has no way to refuse a long chunk, so ``max_chunk`` binds the Python variant only.

Because ``x`` has a variable dimension, Triton's sequence batcher puts only requests of
equal shape (equal K) in one execution.

Sequences are routed to one model instance for life. With ``direct`` each instance holds
``max_batch`` sequences in fixed batch slots; with ``oldest`` it holds ``max_sequences``
candidate sequences and batches up to ``max_batch`` of their pending requests per
execution. Either way a sequence idle for ``idle_ms`` is evicted, and a later request for
it without START is refused by Triton.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import arguments
from ..errors import ConfigurationError
from ..metadata import ModelInfo
from ..runtime.providers import PROVIDERS as RUNTIME_PROVIDERS
from .pbtxt import Symbol

START, END, READY, CORRID = "START", "END", "READY", "CORRID"
CONTROLS = {START: "CONTROL_SEQUENCE_START", END: "CONTROL_SEQUENCE_END", READY: "CONTROL_SEQUENCE_READY"}
STRATEGIES = ("direct", "oldest")
PROVIDERS = tuple(RUNTIME_PROVIDERS)  # cpu, cuda
MODEL_FILE = "model.onnx"
MAX_INSTANCES = 256
MAX_CHUNK = 64  # default: steps per request
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ServeSettings:
    """How Triton schedules one model.

    Attributes:
        name: the model's name in Triton (its folder in the repository).
        instances: model instances (each its own process and ONNX Runtime session).
        max_batch: requests of different sequences one execution steps together; with
            ``direct`` also the sequences each instance holds at once.
        strategy: ``direct`` (one batch slot per sequence) or ``oldest`` (dynamic batches
            of the oldest pending requests of ``max_sequences`` candidate sequences).
        idle_ms: milliseconds after which an idle sequence is evicted.
        max_sequences: ``oldest`` only: sequences each instance holds at once
            (default: ``max_batch``).
        threads: ONNX Runtime intra-op threads per instance.
        provider: ``cpu`` or ``cuda`` (instances on GPUs; the serving environment needs
            onnxruntime-gpu for the Python backend).
        max_chunk: the most time steps one request may carry (Python backend).
    """
    name: str = "snu"
    instances: int = 1
    max_batch: int = 64
    strategy: str = "direct"
    idle_ms: int = 5000
    max_sequences: int | None = None
    threads: int = 1
    provider: str = "cpu"
    max_chunk: int = MAX_CHUNK

    def __post_init__(self):
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise ConfigurationError(f"Received an invalid value for argument `name`, expected a Triton model name "
                                     f"(letters, digits, '_', '.', '-'; up to 128), got {self.name!r}.")
        arguments.integer(self.instances, "instances", 1, MAX_INSTANCES)
        arguments.limited(self.max_batch, "max_batch", "batch")
        arguments.choice(self.strategy, "strategy", STRATEGIES)
        arguments.integer(self.idle_ms, "idle_ms", 1, 24 * 3600 * 1000)
        arguments.limited(self.threads, "threads", "threads")
        arguments.choice(self.provider, "provider", PROVIDERS)
        arguments.limited(self.max_chunk, "max_chunk", "timesteps")
        if self.max_sequences is not None:
            if self.strategy != "oldest":
                raise ConfigurationError("`max_sequences` applies to the oldest strategy only; with direct each "
                                         "instance holds `max_batch` sequences.")
            arguments.limited(self.max_sequences, "max_sequences", "streams")

    @property
    def sequences_per_instance(self) -> int:
        """Sequences one instance holds at once; more wait in Triton's backlog until one ends or is evicted."""
        return (self.max_sequences or self.max_batch) if self.strategy == "oldest" else self.max_batch


def python_config(info: ModelInfo, settings: ServeSettings) -> dict:
    """The Python-backend configuration (see the module docstring)."""
    controls = [_control(name, kind) for name, kind in CONTROLS.items()]
    controls.append({"name": CORRID, "control": [{"kind": Symbol("CONTROL_SEQUENCE_CORRID"),
                                                  "data_type": Symbol("TYPE_UINT64")}]})
    parameters = {"model_file": MODEL_FILE, "threads": str(settings.threads), "provider": settings.provider,
                  "idle_ms": str(settings.idle_ms), "max_chunk": str(settings.max_chunk)}
    return {**_common(info, settings, "python", controls),
            "parameters": [{"key": k, "value": {"string_value": v}} for k, v in parameters.items()]}


def onnxruntime_config(info: ModelInfo, settings: ServeSettings) -> dict:
    """The ONNX Runtime-backend configuration with implicit state (see the module docstring)."""
    controls = [_control(START, CONTROLS[START]), _control(READY, CONTROLS[READY])]
    config = _common(info, settings, "onnxruntime", controls)
    config["sequence_batching"]["state"] = [
        {"input_name": s.input, "output_name": s.output, "data_type": Symbol("TYPE_FP32"), "dims": list(s.shape),
         "initial_state": [{"data_type": Symbol("TYPE_FP32"), "dims": list(s.shape), "zero_data": True,
                            "name": f"{s.input} zeros"}]}
        for s in info.states]
    config["default_model_filename"] = MODEL_FILE
    if info.quantization.ort_disabled_optimizers:
        # The backend cannot disable single optimizers; these int8 graphs abort ONNX Runtime
        # unless the named ones are off, so all are (level 2 = disabled).
        config["optimization"] = {"graph": {"level": 2}}
    config["parameters"] = [{"key": "intra_op_thread_count", "value": {"string_value": str(settings.threads)}},
                            {"key": "inter_op_thread_count", "value": {"string_value": "1"}}]
    return config


def _common(info: ModelInfo, settings: ServeSettings, backend: str, controls: list) -> dict:
    batching = {"max_sequence_idle_microseconds": settings.idle_ms * 1000}
    if settings.strategy == "direct":
        batching["direct"] = {"max_queue_delay_microseconds": 0}
    else:
        batching["oldest"] = {"max_candidate_sequences": settings.sequences_per_instance,
                              "max_queue_delay_microseconds": 0}
    batching["control_input"] = controls
    kind = "KIND_GPU" if settings.provider == "cuda" else "KIND_CPU"
    return {
        "name": settings.name,
        "backend": backend,
        "max_batch_size": settings.max_batch,
        "sequence_batching": batching,
        "input": [{"name": info.input.name, "data_type": Symbol("TYPE_FP32"), "dims": [-1, *info.input.shape]}],
        "output": [{"name": info.outputs.spikes, "data_type": Symbol("TYPE_FP32"), "dims": [-1, *info.output_shape]}],
        "instance_group": [{"count": settings.instances, "kind": Symbol(kind)}],
    }


def _control(name: str, kind: str) -> dict:
    return {"name": name, "control": [{"kind": Symbol(kind), "int32_false_true": [0, 1]}]}
