"""A plain numpy implementation of the SNU equations in DESIGN.md: the tests' oracle."""

import numpy as np

G = {"identity": lambda v: v, "relu": lambda v: np.maximum(v, 0),
     "leaky_relu": lambda v: np.where(v >= 0, v, np.float32(0.1) * v)}
H = {"step": lambda v: (v > 0).astype(np.float32), "sigmoid": lambda v: 1 / (1 + np.exp(-v))}


def snu_layer(x, kernel, threshold, decay, g="identity", activation="step", recurrent_kernel=None,
              lateral_inhibition=False, y0=None, s0=None):
    """Run one SNU layer over x [B, T, F]; return (Y [B, T, U], y_T, s_T)."""
    batch, steps, _ = x.shape
    units = kernel.shape[1]
    y = np.zeros((batch, units), np.float32) if y0 is None else y0
    s = np.zeros((batch, units), np.float32) if s0 is None else s0
    out = np.zeros((batch, steps, units), np.float32)
    for t in range(steps):
        reset = 1 - (y.max(axis=1, keepdims=True) if lateral_inhibition else y)
        pre = x[:, t] @ kernel + decay * s * reset
        if recurrent_kernel is not None:
            pre = pre + y @ recurrent_kernel
        s = G[g](pre).astype(np.float32)
        y = H[activation](s - threshold).astype(np.float32)
        out[:, t] = y
    return out, y, s


def snu_network(x, layers):
    """Run layers (converters.network.SNULayerParams) over x; return (spikes per layer, final states)."""
    spikes, states = [], []
    current = x.astype(np.float32)
    for p in layers:
        current, y, s = snu_layer(current, p.kernel, p.threshold, p.decay, p.g, p.activation,
                                  p.recurrent_kernel, p.lateral_inhibition)
        spikes.append(current)
        states.append((y, s))
    return spikes, states
