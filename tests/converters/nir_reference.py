"""A plain-numpy interpreter of NIR graphs: the tests' oracle for NIR import and export.

Written from NIR's node documentation, independently of ``converters/nir_graph.py`` and
``converters/nir_import.py``: each node's continuous-time equation integrated with forward
Euler at ``dt``, in float64, one time step at a time, on arrays of NIR's shapes (channels
first, as PyTorch's; convolution, padding and pooling written out from their definitions)::

    Affine     y = W x + b            Linear  y = W x          Scale  y = s * x
    Threshold  y = x > θ              Flatten y = x reshaped (start_dim..end_dim joined)
    Conv2d     y[o] = b[o] + sum over its group's channels c and the window of W[o, c] * x_padded[c]
               (stride, dilation, zero padding on both sides; 'same': PyTorch's, the odd row at the end)
    SumPool2d  y = the sum over each window (stride, zero padding)
    AvgPool2d  y = that sum / (kh * kw) (padding counts, PyTorch's default)
    LIF        v += dt/τ (v_leak - v + r I);  z = v > v_threshold;  v = v_reset where z
    IF         v += dt r I;               z and reset as LIF
    LI / I     as LIF / IF without spike; the output is v
    CubaLIF    i += dt/τ_syn (w_in I - i);  v += dt/τ_mem (v_leak - v + r i);  z and reset as LIF
    CubaLI     as CubaLIF without spike

``I`` is the sum of everything the node's incoming edges carry (each read in the shape of the
first, C order); nodes that need a vector or an image read their input in that shape, and
parameters hold as many values as a neuron's input or broadcast to it. Cycles: an edge that leads
back to a node on the current depth-first path from the Input node (edges followed in the
order they are listed) carries its source's value of the previous step (nothing at t = 0).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def flatten(graph, prefix=""):
    """``(nodes {name: nir node}, edges [(a, b)])`` with subgraphs inlined as ``sub.node``."""
    nodes, edges, entry, exit_ = {}, [], {}, {}
    for key, node in graph.nodes.items():
        name = prefix + key
        if type(node).__name__ == "NIRGraph":
            inner_nodes, inner_edges = flatten(node, name + ".")
            nodes.update(inner_nodes)
            edges += inner_edges
            entry[key] = next(n for n in inner_nodes if type(inner_nodes[n]).__name__ == "Input"
                              and n.count(".") == name.count(".") + 1)
            exit_[key] = next(n for n in inner_nodes if type(inner_nodes[n]).__name__ == "Output"
                              and n.count(".") == name.count(".") + 1)
        else:
            nodes[name] = node
    for a, b in graph.edges:
        edges.append((exit_.get(a, prefix + a), entry.get(b, prefix + b)))
    return nodes, edges


def back_edges(edges, start):
    """Edges that point to a node on the current depth-first path from ``start``."""
    on_path, visited, found = set(), set(), set()

    def visit(name):
        visited.add(name)
        on_path.add(name)
        for a, b in edges:
            if a != name:
                continue
            if b in on_path:
                found.add((a, b))
            elif b not in visited:
                visit(b)
        on_path.discard(name)

    visit(start)
    return found


def _like(value, x):
    """Parameter ``value`` for an input ``x`` [N, *shape]: as many values reshaped, else broadcast."""
    value = np.asarray(value, np.float64)
    return value.reshape(x.shape[1:]) if value.size == np.prod(x.shape[1:]) else value


def _pair(value):
    flat = [int(v) for v in np.asarray(value).reshape(-1)]
    return flat[0], flat[-1]


def _windows(x, kernel, stride, pads, dilation=(1, 1)):
    """Windows of images x [N, C, H, W] padded with zeros (top, left, bottom, right): [N, C, H', W', kh, kw]."""
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    windows = sliding_window_view(x, span, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    return windows[..., ::dilation[0], ::dilation[1]]


def _conv2d(node, x):
    weight = np.asarray(node.weight, np.float64)
    out_channels, per_group, kh, kw = weight.shape
    groups = int(np.asarray(node.groups))
    stride, dilation = _pair(node.stride), _pair(node.dilation)
    if isinstance(node.padding, str):
        totals = [0, 0] if node.padding == "valid" else [d * (k - 1) for d, k in zip(dilation, (kh, kw))]
        pads = (totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2)
    else:
        pads = _pair(node.padding) * 2
    if node.input_shape is not None:
        x = x.reshape(len(x), per_group * groups, *_pair(node.input_shape))
    windows = _windows(x, (kh, kw), stride, pads, dilation)
    outputs = []
    for g in range(groups):
        w = weight[g * out_channels // groups:(g + 1) * out_channels // groups]
        outputs.append(np.einsum("nchwij,ocij->nohw", windows[:, g * per_group:(g + 1) * per_group], w))
    return np.concatenate(outputs, axis=1) + _like(node.bias, np.zeros((1, out_channels))).reshape(-1, 1, 1)


def _pool(node, x, average):
    kernel, stride, padding = _pair(node.kernel_size), _pair(node.stride), _pair(node.padding)
    summed = _windows(x, kernel, stride, padding * 2).sum(axis=(-2, -1))
    return summed / (kernel[0] * kernel[1]) if average else summed


def _flatten(node, x):
    shape = x.shape[1:]
    start, end = int(node.start_dim) % len(shape), int(node.end_dim) % len(shape)
    return x.reshape(len(x), *shape[:start], -1, *shape[end + 1:])


def _euler(state, dt, tau, target):
    """One forward-Euler step of ``tau * dstate/dt = target - state``."""
    return state + dt / tau * (target - state)


def run(graph, x, dt):
    """Run ``graph`` on ``x [N, T, F]``.

    Returns:
        (outputs, states): every node's output at every step ``{name: [N, T, width]}`` and the
        final state variables ``{name: {"v": [N, width], "i": ...}}`` (after reset).
    """
    nodes, edges = flatten(graph)
    top_inputs = [n for n in graph.nodes if type(graph.nodes[n]).__name__ == "Input"]
    start = top_inputs[0]
    delayed = back_edges(edges, start)
    batch, steps = x.shape[:2]
    shape = np.asarray(graph.nodes[start].input_type["input"]).reshape(-1)
    x = np.asarray(x, np.float64).reshape(batch, steps, *shape)
    outputs = {name: [] for name in nodes}
    states = {name: {} for name in nodes}
    previous = {}
    for t in range(steps):
        current = {}
        while len(current) < len(nodes):
            progressed = False
            for name, node in nodes.items():
                if name in current:
                    continue
                sources = [(a, (a, b) in delayed) for a, b in edges if b == name]
                if any(not late and a not in current for a, late in sources):
                    continue
                values = [previous.get(a) if late else current[a] for a, late in sources]
                values = [v for v in values if v is not None]
                total = sum((v.reshape(values[0].shape) for v in values[1:]), values[0]) if values else None
                current[name] = x[:, t] if name == start else _step(node, total, states[name], dt)
                progressed = True
            assert progressed, "the graph has a cycle without a back edge"
        for name, value in current.items():
            outputs[name].append(value)
        previous = current
    return {n: np.stack(v, axis=1) for n, v in outputs.items()}, states


def _step(node, total, state, dt):
    kind = type(node).__name__
    if kind in ("Output", "Input"):
        return total
    if kind == "Flatten":
        return _flatten(node, total)
    if kind == "Conv2d":
        return _conv2d(node, total)
    if kind in ("SumPool2d", "AvgPool2d"):
        return _pool(node, total, kind == "AvgPool2d")
    if kind == "Affine":
        return total.reshape(len(total), -1) @ np.asarray(node.weight, np.float64).T + _like(node.bias, np.zeros(
            (1, len(node.weight))))
    if kind == "Linear":
        return total.reshape(len(total), -1) @ np.asarray(node.weight, np.float64).T
    if kind == "Scale":
        return total * _like(node.scale, total)
    if kind == "Threshold":
        return (total > _like(node.threshold, total)).astype(np.float64)
    v = state.get("v", np.zeros_like(total))
    if kind in ("LIF", "LI"):
        v = _euler(v, dt, _like(node.tau, total), _like(node.v_leak, total) + _like(node.r, total) * total)
    elif kind in ("IF", "I"):
        v = v + dt * _like(node.r, total) * total
    elif kind in ("CubaLIF", "CubaLI"):
        i = _euler(state.get("i", np.zeros_like(total)), dt, _like(node.tau_syn, total),
                   _like(node.w_in, total) * total)
        state["i"] = i
        v = _euler(v, dt, _like(node.tau_mem, total), _like(node.v_leak, total) + _like(node.r, total) * i)
    else:
        raise NotImplementedError(kind)
    if kind in ("LI", "I", "CubaLI"):
        state["v"] = v
        return v
    spikes = v > _like(node.v_threshold, total)
    state["v"] = np.where(spikes, _like(node.v_reset, total), v)
    return spikes.astype(np.float64)
