"""Export formats declared as data, in one small registry.

A :class:`Format` says what a format produces (graph kind, file names, whether T is fixed),
which function builds it, and which gates its validation must pass. The builder modules
import TensorFlow inside their functions, so reading the registry stays TensorFlow-free.
Adding a format is one builder module plus one entry in :data:`FORMATS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import arguments
from ..errors import ConfigurationError
from . import customop, loop, step, unrolled

MIN_OPSET, MAX_OPSET, DEFAULT_OPSET = 13, 18, 17  # tf2onnx 1.17 supports opsets 13-18
ALL = "all"


@dataclass(frozen=True)
class Gates:
    """What an export must reach against TensorFlow to be written.

    ``spike_agreement`` is the fraction of equal spikes (all compared layers and steps);
    outputs of soft (sigmoid) layers count as equal within ``soft_atol``, a leaky integrator's membrane
    values within ``value_rtol`` (relative: they are sums of products, not 0..1).
    ``max_state_delta`` is reported always and gated only when not ``None``.
    """
    prediction_agreement: float = 1.0
    spike_agreement: float = 0.9999
    soft_atol: float = 1e-5
    value_rtol: float = 1e-4
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
        build: ``BuildContext -> {graph: ModelProto}``.
        description: one line for help texts and docs.
        gates: validation gates (float formats: :data:`FLOAT_GATES`).
        step_file_name: file name of a companion step graph, for formats that ship one.
    """
    name: str
    graph: str
    needs_timesteps: bool
    file_name: str
    build: Callable
    description: str
    gates: Gates = FLOAT_GATES
    step_file_name: str | None = None

    def files(self) -> dict[str, str]:
        """``{graph: default file name}`` of every file the format writes."""
        files = {self.graph: self.file_name}
        if self.step_file_name:
            files["step"] = self.step_file_name
        return files


FORMATS = {f.name: f for f in (
    Format("step", "step", False, "step.onnx", step.build,
           "one time step with explicit state; for streaming"),
    Format("unrolled", "sequence", True, "unrolled.onnx", unrolled.build,
           "whole sequence of fixed T, loop unrolled; for fixed-length batches"),
    Format("loop", "sequence", False, "loop.onnx", loop.build,
           "whole sequence of any T (one ONNX Loop per layer)"),
    Format("customop", "sequence", False, "customop.onnx", customop.build_format,
           "one ai.snudeploy node per layer (SNULayer / SNUCell with function bodies)",
           step_file_name="customop_step.onnx"),
)}


def names() -> tuple[str, ...]:
    return tuple(FORMATS)


def get(name: str) -> Format:
    """The format called ``name``; :class:`ConfigurationError` names the choices otherwise."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"Unknown export format {name!r}; choose one of "
                                 f"{', '.join(names())} or '{ALL}'.") from None


def check_opset(opset) -> int:
    try:
        return arguments.integer(opset, "opset", MIN_OPSET, MAX_OPSET)
    except ConfigurationError:
        raise ConfigurationError(f"Unsupported opset {opset!r}: snudeploy exports opsets "
                                 f"{MIN_OPSET}-{MAX_OPSET} (default {DEFAULT_OPSET}).") from None
