"""A plain-numpy interpreter of NIR graphs: the tests' oracle for NIR import and export.

Written from NIR's node documentation, independently of ``converters/nir_graph.py`` and
``converters/nir_import.py``: each node's continuous-time equation integrated with forward
Euler at ``dt``, in float64, one time step at a time, on flat float vectors::

    Affine     y = W x + b            Linear  y = W x          Scale  y = s * x
    Threshold  y = x > θ              Flatten y = x
    LIF        v += dt/τ (v_leak - v + r I);  z = v > v_threshold;  v = v_reset where z
    IF         v += dt r I;               z and reset as LIF
    LI / I     as LIF / IF without spike; the output is v
    CubaLIF    i += dt/τ_syn (w_in I - i);  v += dt/τ_mem (v_leak - v + r i);  z and reset as LIF
    CubaLI     as CubaLIF without spike

``I`` is the sum of everything the node's incoming edges carry. Cycles: an edge that leads
back to a node on the current depth-first path from the Input node (edges followed in the
order they are listed) carries its source's value of the previous step (nothing at t = 0).
"""

from __future__ import annotations

import numpy as np


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


def _flat(value):
    return np.asarray(value, np.float64).reshape(-1)


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
    x = np.asarray(x, np.float64).reshape(batch, steps, -1)
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
                total = sum(values[1:], values[0]) if values else None
                current[name] = x[:, t] if name == start else _step(node, total, states[name], dt)
                progressed = True
            assert progressed, "the graph has a cycle without a back edge"
        for name, value in current.items():
            outputs[name].append(value)
        previous = current
    return {n: np.stack(v, axis=1) for n, v in outputs.items()}, states


def _step(node, total, state, dt):
    kind = type(node).__name__
    if kind in ("Output", "Input", "Flatten"):
        return total
    if kind == "Affine":
        return total @ np.asarray(node.weight, np.float64).T + _flat(node.bias)
    if kind == "Linear":
        return total @ np.asarray(node.weight, np.float64).T
    if kind == "Scale":
        return total * _flat(node.scale)
    if kind == "Threshold":
        return (total > _flat(node.threshold)).astype(np.float64)
    v = state.get("v", np.zeros_like(total))
    if kind in ("LIF", "LI"):
        v = _euler(v, dt, _flat(node.tau), _flat(node.v_leak) + _flat(node.r) * total)
    elif kind in ("IF", "I"):
        v = v + dt * _flat(node.r) * total
    elif kind in ("CubaLIF", "CubaLI"):
        i = _euler(state.get("i", np.zeros_like(total)), dt, _flat(node.tau_syn), _flat(node.w_in) * total)
        state["i"] = i
        v = _euler(v, dt, _flat(node.tau_mem), _flat(node.v_leak) + _flat(node.r) * i)
    else:
        raise NotImplementedError(kind)
    if kind in ("LI", "I", "CubaLI"):
        state["v"] = v
        return v
    spikes = v > _flat(node.v_threshold)
    state["v"] = np.where(spikes, _flat(node.v_reset), v)
    return spikes.astype(np.float64)
