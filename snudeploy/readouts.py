"""Readouts: how a network's output over time becomes a prediction, one registry for training and runtime.

The output tensor ``spikes`` carries the output layer's value at every step, ``o_t [C]``;
a readout reduces ``o_1 .. o_T`` (a sequence's own length) to scores ``[C]`` whose argmax is
the prediction (ties to the lower class). The runtime's ``rates``, a sequence graph's
``rates`` output and :meth:`Readout.scores` are those scores: the mean output rate for both
spike readouts (the argmax of a count and of its mean is the same), the membrane value for
``membrane``.

* ``mean_rate`` (the seed's): output spikes averaged over time, trained with MSE against the
  one-hot label;
* ``spike_count``: output spikes summed over time, as logits of softmax cross-entropy;
* ``membrane``: the output layer is a non-spiking leaky integrator (layer kind
  ``leaky_integrator``) and ``o_t`` its membrane value; scores are ``o_T`` (``reduce: "last"``)
  or ``max_t o_t`` (``reduce: "max"``), as logits of softmax cross-entropy.

Anytime: after k steps a stream's prediction is that of its first k outputs. Spike counts
grow by at most 1 per step, so a count-based prediction is final once the leader is more
than the remaining steps ahead; a membrane value can change by any amount, so a membrane
prediction is final only when no step remains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import arguments
from .errors import ConfigurationError

LOSSES = {"mean_rate": "mse", "spike_count": "crossentropy", "membrane": "crossentropy"}
READOUTS = tuple(LOSSES)
REDUCTIONS = ("last", "max")


@dataclass(frozen=True)
class Readout:
    """One readout: ``kind`` (:data:`READOUTS`) and, for ``membrane``, ``reduce`` (last or max)."""
    kind: str = "mean_rate"
    reduce: str | None = None

    def __post_init__(self):
        arguments.choice(self.kind, "readout", READOUTS)
        if self.kind == "membrane":
            object.__setattr__(self, "reduce", arguments.choice(self.reduce or "last", "reduce", REDUCTIONS))
        elif self.reduce is not None:
            raise ConfigurationError(f"The {self.kind} readout takes no `reduce` (only membrane does), got "
                                     f"{self.reduce!r}.")

    @property
    def loss(self) -> str:
        return LOSSES[self.kind]

    @property
    def spiking(self) -> bool:
        """The output layer spikes (counts); False: it is a leaky integrator (membrane values)."""
        return self.kind != "membrane"

    @property
    def label(self) -> str:
        return f"membrane ({self.reduce})" if self.kind == "membrane" else self.kind

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        """Scores ``[N, C]`` float32 of outputs ``[N, T, C]`` (whole sequences)."""
        outputs = np.asarray(outputs)
        if self.spiking:
            return outputs.mean(axis=1, dtype=np.float32)
        return outputs[:, -1] if self.reduce == "last" else outputs.max(axis=1)

    def running(self, outputs: np.ndarray) -> np.ndarray:
        """Scores after every step ``[N, T, C]`` (spikes: the running count, whose argmax is the rate's)."""
        outputs = np.asarray(outputs)
        if self.spiking:
            return np.cumsum(outputs, axis=1, dtype=np.float64)
        return outputs if self.reduce == "last" else np.maximum.accumulate(outputs, axis=1)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **({"reduce": self.reduce} if self.reduce else {})}

    @classmethod
    def from_dict(cls, data) -> "Readout":
        """A stored readout: ``{"kind": ..., "reduce": ...}`` (or schema 2's plain name)."""
        if isinstance(data, Readout):
            return data
        if isinstance(data, str):
            return cls(data)
        if not isinstance(data, dict):
            raise ConfigurationError(f"A readout must be an object with a `kind`, got {data!r}.")
        unknown = set(data) - {"kind", "reduce"}
        if unknown:
            raise ConfigurationError(f"Unknown readout field(s): {', '.join(sorted(unknown))}.")
        return cls(data.get("kind"), data.get("reduce"))
