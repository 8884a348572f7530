"""Rate encoding: static values in [0, 1] become Bernoulli spike trains.

For every sample, time step and feature independently::

    spike[n, t, f] ~ Bernoulli(p = value[n, f] * max_spikes / timesteps)

so a pixel of value 1 fires ``max_spikes`` times on average over ``timesteps`` steps
(the neuroaikit reference's ``transform_rate``). Output is ``uint8 [N, T, F]``.
Encoding runs in chunks so that no float32 copy of a full 60k x 20 x 784 dataset is made.

:class:`Encoding` is the one description of an encoding, stored in checkpoint specs and in
ONNX metadata alike; :meth:`Encoding.encode` is the one way a split is encoded (the test
split uses ``seed + 1``), so training, export validation, ``run`` and ``bench`` see the
same spikes for the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import arguments
from .errors import ConfigurationError, InputValueError

_CHUNK_ELEMENTS = 1 << 22  # ~4M random draws per chunk (16 MB of float32 scratch)
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Encoding:
    """Rate encoding of a network's inputs.

    Attributes:
        timesteps: T, time steps per sample.
        max_spikes: expected spikes over T of a value of 1 (at most T).
        seed: seed of the training split; the test split uses ``seed + 1``.
    """
    timesteps: int = 20
    max_spikes: float = 6.0
    seed: int = 0
    kind: str = "rate"

    def __post_init__(self):
        arguments.limited(self.timesteps, "timesteps", "timesteps")
        arguments.number(self.max_spikes, "max_spikes", 0, self.timesteps)
        arguments.integer(self.seed, "seed", 0)
        arguments.choice(self.kind, "kind", ("rate",))
        object.__setattr__(self, "max_spikes", float(self.max_spikes))

    def split_seed(self, split: str) -> int:
        return self.seed + SPLITS.index(arguments.choice(split, "split", SPLITS))

    def encode(self, x01, split: str = "test") -> np.ndarray:
        """``x01`` [N, ...] in [0, 1] as uint8 spikes [N, T, F], encoded as ``split`` is."""
        return encode_rate(x01, self.timesteps, self.max_spikes, self.split_seed(split))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "timesteps": self.timesteps, "max_spikes": self.max_spikes, "seed": self.seed}

    @classmethod
    def from_dict(cls, data) -> "Encoding":
        """Parse a stored encoding; :class:`ConfigurationError` names what is wrong."""
        if not isinstance(data, dict):
            raise ConfigurationError(f"An encoding must be a JSON object, got {type(data).__name__}.")
        unknown = set(data) - {"kind", "timesteps", "max_spikes", "seed"}
        if unknown:
            raise ConfigurationError(f"Unknown encoding field(s): {', '.join(sorted(unknown))}.")
        return cls(**data)


def encode_rate(x01, timesteps: int = 20, max_spikes: float = 6, seed: int = 0) -> np.ndarray:
    """Encode values in [0, 1] of shape [N, ...] into uint8 spikes [N, T, F].

    Args:
        x01: array [N, ...] of values in [0, 1]; trailing axes are flattened into F.
        timesteps: number of time steps T.
        max_spikes: expected spikes over T for a value of 1 (must be <= T).
        seed: seed of the random generator; the same seed gives the same spikes.
    """
    timesteps = arguments.limited(timesteps, "timesteps", "timesteps")
    max_spikes = arguments.number(max_spikes, "max_spikes", 0, timesteps)
    seed = arguments.integer(seed, "seed", 0)
    x = np.asarray(x01)
    if x.dtype.kind not in "biuf":
        raise InputValueError(f"Rate encoding needs numbers in [0, 1], got dtype {x.dtype}.")
    x = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(1, -1)
    if not np.all(np.isfinite(x)) or x.min(initial=0) < 0 or x.max(initial=0) > 1:
        raise InputValueError("Rate encoding needs finite values in [0, 1]; scale the data first.")
    n, features = x.shape
    probability = (x * (max_spikes / timesteps)).astype(np.float32)
    rng = np.random.default_rng(seed)
    spikes = np.empty((n, timesteps, features), dtype=np.uint8)
    rows = max(1, _CHUNK_ELEMENTS // max(1, timesteps * features))
    for start in range(0, n, rows):
        p = probability[start:start + rows, None, :]
        draws = rng.random((p.shape[0], timesteps, features), dtype=np.float32)
        np.less(draws, p, out=spikes[start:start + rows], casting="unsafe")
    return spikes
