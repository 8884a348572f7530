"""Quantization methods declared as data: the CLI's choices and the pipeline's behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigurationError


@dataclass(frozen=True)
class Method:
    """One way to reach int8 weights.

    Attributes:
        name: the method's name (``--method``, metadata ``quantization.method``).
        description: one line for help texts and docs.
        fine_tunes: train with fake-quantised kernels (tfmot, tf-keras child process) first.
        per_channel: one weight scale per output unit (else one per layer, the QAT grid).
    """
    name: str
    description: str
    fine_tunes: bool
    per_channel: bool

    @property
    def weights(self) -> str:
        return "int8 symmetric " + ("per-channel" if self.per_channel else "per-tensor (the QAT grid)")


METHODS = {m.name: m for m in (
    Method("ptq", "post-training: int8 weights of the float export (per-channel, symmetric)", False, True),
    Method("qat", "tfmot quantization-aware fine-tuning, then int8 weights on the trained grid", True, False),
)}


def get(name: str) -> Method:
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"Unknown quantization method {name!r}; choose one of {', '.join(METHODS)}.") from None
