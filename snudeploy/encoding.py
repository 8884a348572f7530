"""Rate encoding: static values in [0, 1] become Bernoulli spike trains.

For every sample, time step and feature independently::

    spike[n, t, f] ~ Bernoulli(p = value[n, f] * max_spikes / timesteps)

so a pixel of value 1 fires ``max_spikes`` times on average over ``timesteps`` steps
(the neuroaikit reference's ``transform_rate``). Output is ``uint8 [N, T, F]``.
Encoding runs in chunks so that no float32 copy of a full 60k x 20 x 784 dataset is made.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigurationError, InputValueError

_CHUNK_ELEMENTS = 1 << 22  # ~4M random draws per chunk (16 MB of float32 scratch)


def encode_rate(x01, timesteps: int = 20, max_spikes: float = 6, seed: int = 0) -> np.ndarray:
    """Encode values in [0, 1] of shape [N, ...] into uint8 spikes [N, T, F].

    Args:
        x01: array [N, ...] of values in [0, 1]; trailing axes are flattened into F.
        timesteps: number of time steps T.
        max_spikes: expected spikes over T for a value of 1 (must be <= T).
        seed: seed of the random generator; the same seed gives the same spikes.
    """
    if int(timesteps) != timesteps or timesteps < 1:
        raise ConfigurationError(f"`timesteps` must be a positive integer, got {timesteps!r}.")
    if not 0 <= max_spikes <= timesteps:
        raise ConfigurationError(
            f"`max_spikes` must be in [0, timesteps={timesteps}], got {max_spikes!r}.")
    x = np.asarray(x01)
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
