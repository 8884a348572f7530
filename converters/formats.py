"""Export formats declared as data, in one small registry.

A :class:`Format` says what a format produces (graph kind, file name, whether T is fixed)
and which gates its validation must pass; its builder is named as ``"module:function"``
and imported only when a model is built, so reading the registry never imports
TensorFlow. Adding a format is one builder module plus one :func:`register` line here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigurationError

MIN_OPSET, MAX_OPSET, DEFAULT_OPSET = 13, 18, 17  # tf2onnx 1.17 supports opsets 13-18


@dataclass(frozen=True)
class Gates:
    """What an export must reach against TensorFlow to be written.

    ``spike_agreement`` is the fraction of equal spikes (all compared layers and steps);
    outputs of soft (sigmoid) layers count as equal within ``soft_atol``.
    ``max_state_delta`` is reported always and gated only when not ``None``.
    """
    prediction_agreement: float = 1.0
    spike_agreement: float = 0.9999
    soft_atol: float = 1e-5
    max_state_delta: float | None = None


FLOAT_GATES = Gates()


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        name: the format's name (CLI ``--format``, metadata ``format``).
        graph: ``"step"`` (one time step) or ``"sequence"`` (whole sequence) - the primary file.
        needs_timesteps: the graph is built for one fixed T.
        file_name: default file name of the primary graph.
        builder: ``"module:function"`` (relative to this package) returning ``{graph: ModelProto}``.
        gates: validation gates (float formats: :data:`FLOAT_GATES`).
        step_file_name: file name of a companion step graph, for formats that ship one.
        description: one line for help texts.
    """
    name: str
    graph: str
    needs_timesteps: bool
    file_name: str
    builder: str
    gates: Gates = FLOAT_GATES
    step_file_name: str | None = None
    description: str = ""

    def files(self) -> dict[str, str]:
        """``{graph: default file name}`` of every file the format writes."""
        files = {self.graph: self.file_name}
        if self.step_file_name:
            files["step"] = self.step_file_name
        return files


_REGISTRY: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in _REGISTRY:
        raise ValueError(f"Format {fmt.name!r} is registered twice.")
    if fmt.graph not in ("step", "sequence"):
        raise ValueError(f"Format {fmt.name!r} has unknown graph kind {fmt.graph!r}.")
    _REGISTRY[fmt.name] = fmt
    return fmt


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str) -> Format:
    """The format called ``name``; :class:`ConfigurationError` names the choices otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"Unknown export format {name!r}; choose one of "
                                 f"{', '.join(names())} or 'all'.") from None


def check_opset(opset) -> int:
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigurationError(f"Unsupported opset {opset!r}: snudeploy exports opsets "
                                 f"{MIN_OPSET}-{MAX_OPSET} (default {DEFAULT_OPSET}).")
    return opset


register(Format("step", "step", False, "step.onnx", "step:build",
                description="one time step with explicit state; for streaming"))
register(Format("unrolled", "sequence", True, "unrolled.onnx", "unrolled:build",
                description="whole sequence of fixed T, loop unrolled; for fixed-length batches"))
register(Format("loop", "sequence", False, "loop.onnx", "loop:build",
                description="whole sequence of any T (one ONNX Loop per layer)"))
register(Format("customop", "sequence", False, "customop.onnx", "customop_format:build",
                step_file_name="customop_step.onnx",
                description="one ai.snudeploy node per layer (SNULayer / SNUCell with function bodies)"))
