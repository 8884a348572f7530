"""A plain numpy implementation of the SNU equations in DESIGN.md and of the layer kinds: the tests' oracle.

Independent of TensorFlow, ONNX and snudeploy's own graph builders: convolution, padding and
pooling are written out here from their definitions (TensorFlow's ``same`` padding puts the
odd row or column at the end).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

G = {"identity": lambda v: v, "relu": lambda v: np.maximum(v, 0),
     "leaky_relu": lambda v: np.where(v >= 0, v, np.float32(0.1) * v)}
H = {"step": lambda v: (v > 0).astype(np.float32), "sigmoid": lambda v: 1 / (1 + np.exp(-v))}


def snu_cell(projected, kernel_free_state, threshold, decay, g, activation, recurrent_kernel=None,
             lateral_inhibition=False):
    """One step: ``projected`` is W x_t; ``kernel_free_state`` is (y, s) of the previous step."""
    y, s = kernel_free_state
    reset = 1 - (y.max(axis=-1, keepdims=True) if lateral_inhibition else y)
    pre = projected + decay * s * reset
    if recurrent_kernel is not None:
        pre = pre + y @ recurrent_kernel
    s = G[g](pre).astype(np.float32)
    y = H[activation](s - threshold).astype(np.float32)
    return y, s


def snu_layer(x, kernel, threshold, decay, g="identity", activation="step", recurrent_kernel=None,
              lateral_inhibition=False, y0=None, s0=None):
    """Run one dense SNU layer over x [B, T, F]; return (Y [B, T, U], y_T, s_T)."""
    return _run(x, lambda frame: frame @ kernel, (kernel.shape[1],), threshold, decay, g, activation,
                recurrent_kernel, lateral_inhibition, y0, s0)


def conv2d(x, kernel, strides, padding):
    """TensorFlow's ``conv2d`` of frames x [N, H, W, C] with kernel [kh, kw, C, F]."""
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    if padding == "same":
        pads = []
        for size, k, s in zip(x.shape[1:3], (kh, kw), (sh, sw)):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # [N, H', W', C, kh, kw]
    return np.einsum("nhwcij,ijcf->nhwf", windows, kernel).astype(np.float32)


def pool2d(x, size, average):
    """Non-overlapping pooling of frames x [..., H, W, C] (rows/columns that do not fill a window dropped)."""
    (ph, pw), (height, width) = size, x.shape[-3:-1]
    h, w = height // ph, width // pw
    windows = x[..., :h * ph, :w * pw, :].reshape(*x.shape[:-3], h, ph, w, pw, x.shape[-1])
    summed = windows.sum(axis=(-4, -2), dtype=np.float32)
    return (summed / np.float32(ph * pw)).astype(np.float32) if average else summed


def _run(x, project, shape, threshold, decay, g, activation, recurrent_kernel, lateral_inhibition, y0, s0):
    batch, steps = x.shape[:2]
    y = np.zeros((batch, *shape), np.float32) if y0 is None else y0
    s = np.zeros((batch, *shape), np.float32) if s0 is None else s0
    out = np.zeros((batch, steps, *shape), np.float32)
    for t in range(steps):
        y, s = snu_cell(project(x[:, t]), (y, s), threshold, decay, g, activation, recurrent_kernel,
                        lateral_inhibition)
        out[:, t] = y
    return out, y, s


def snu_network(x, network):
    """Run a ``converters.network.Network`` over x [B, T, *input]; return (spikes, final (y, s)) of every
    stateful layer, in order."""
    spikes, states = [], []
    current = x.astype(np.float32)
    for layer in network.layers:
        spec, w = layer.spec, layer.weights
        if spec.kind == "flatten":
            current = current.reshape(*current.shape[:2], -1)
        elif spec.kind in ("avg_pool2d", "sum_pool2d"):
            current = pool2d(current, spec.pool_size, spec.kind == "avg_pool2d")
        elif spec.kind == "snu":
            current, y, s = snu_layer(current, w["kernel"], w["threshold"], spec.decay, spec.g, spec.activation,
                                      w.get("recurrent_kernel"), spec.lateral_inhibition)
            spikes.append(current)
            states.append((y, s))
        elif spec.kind == "snu_conv2d":
            current, y, s = _run(current, lambda frame: conv2d(frame, w["kernel"], spec.strides, spec.padding),
                                 layer.output_shape, w["threshold"], spec.decay, spec.g, spec.activation, None, False,
                                 None, None)
            spikes.append(current)
            states.append((y, s))
        elif spec.kind == "leaky_integrator":  # v_t = (x_t W + b) + decay v_{t-1}; its output is v
            v, values = np.zeros((len(current), spec.units), np.float32), []
            for t in range(current.shape[1]):
                v = (current[:, t] @ w["kernel"] + w["bias"]) + np.float32(spec.decay) * v
                values.append(v)
            current = np.stack(values, axis=1)
            spikes.append(current)
            states.append((v,))
        else:
            raise NotImplementedError(spec.kind)
    return spikes, states
