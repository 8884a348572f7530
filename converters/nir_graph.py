"""A NIR graph as snudeploy runs it: read with clear errors, checked, flattened and ordered.

NIR (the Neuromorphic Intermediate Representation, the ``nir`` package of the ``[nir]``
extra) stores a graph of nodes and edges in HDF5; an edge carries its source's output to
its target, and a node with several incoming edges takes their sum. :func:`read` opens a
file and names every problem in one :class:`~snudeploy.errors.ModelFileError` (not HDF5,
unknown or unsupported node types, missing parameters) before ``nir.read`` sees it.
:func:`plan` turns a ``nir.NIRGraph`` (read from a file or built with the ``nir`` API) into
a :class:`Plan`: subgraphs flattened into ``outer.inner`` names, parameters as flat float64
arrays, every node's width checked along every edge, and the order of one time step.

Cycles (recurrent connections, such as snnTorch's recurrent neurons) need a delay in
discrete time. The convention: walking the graph depth-first from its ``Input`` node,
following edges in the order the graph lists them, an edge that leads back to a node on the
current path closes a cycle, and carries its source's output of the *previous* step (zero
at the first step). Such edges are :attr:`Plan.feedback`; all other edges carry values of
the current step, and :attr:`Plan.nodes` lists the nodes in an order that respects them.

Tensors are flat: a node of NIR shape ``(2, 4, 4)`` has width 32 (C order), so ``Flatten``
passes values through unchanged. This module imports ``nir`` and ``h5py`` inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..extras import require

# NIR type -> (parameters a file must store, optional parameters with their defaults).
NODES = {
    "Input": (("shape",), {}),
    "Output": (("shape",), {}),
    "Flatten": ((), {}),
    "Affine": (("weight", "bias"), {}),
    "Linear": (("weight",), {}),
    "Scale": (("scale",), {}),
    "Threshold": (("threshold",), {}),
    "LIF": (("tau", "r", "v_leak", "v_threshold"), {"v_reset": 0.0}),
    "CubaLIF": (("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"), {"v_reset": 0.0, "w_in": 1.0}),
    "LI": (("tau", "r", "v_leak"), {}),
    "CubaLI": (("tau_syn", "tau_mem", "r", "v_leak"), {"w_in": 1.0}),
    "IF": (("r", "v_threshold"), {"v_reset": 0.0}),
    "I": (("r",), {}),
    "NIRGraph": (("nodes", "edges"), {}),
}
NEURONS = ("LIF", "CubaLIF", "LI", "CubaLI", "IF", "I")
UNSUPPORTED = ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Delay")
IDENTITY = "Identity"  # the Input/Output nodes of subgraphs
PASS_THROUGH = ("Flatten", IDENTITY)  # values pass through unchanged (tensors are flat)
POSITIVE = ("tau", "tau_syn", "tau_mem")
SUPPORTED_TEXT = "Input, Output, Affine, Linear, Scale, Threshold, Flatten, LIF, CubaLIF, LI, CubaLI, IF, I"


@dataclass(frozen=True)
class Node:
    """One node of the flattened graph.

    Attributes:
        name: its name (``outer.inner`` inside subgraphs).
        type: the NIR type, or ``"Identity"`` for the Input and Output nodes of subgraphs.
        params: parameter name -> flat float64 array (weights keep their 2-D shape).
        width: how many values it outputs per sample.
        inputs: its source nodes, in the order the graph lists the edges.
    """
    name: str
    type: str
    params: dict
    width: int
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """A checked graph: nodes in evaluation order, the edges that close cycles, its metadata."""
    nodes: dict
    input: str
    output: str
    feedback: tuple[tuple[str, str], ...]
    metadata: dict

    @property
    def features(self) -> int:
        return self.nodes[self.input].width

    @property
    def classes(self) -> int:
        return self.nodes[self.output].width

    def delayed(self, source: str, target: str) -> bool:
        """Whether edge ``source -> target`` carries the previous step's value."""
        return (source, target) in self.feedback


def read(path):
    """``nir.read(path)`` with one clear :class:`ModelFileError` for any file it cannot take."""
    require("nir", "Reading NIR graphs")
    import h5py
    import nir

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"NIR file {path} does not exist.")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file; expected a NIR graph written by nir.write.")
    if not h5py.is_hdf5(path):
        raise ModelFileError(f"{path} is not a NIR file: it is not HDF5 (NIR graphs are written by nir.write).")
    try:
        with h5py.File(path, "r") as f:
            if not isinstance(f.get("node"), h5py.Group):
                raise ModelFileError(f"{path} is HDF5 but not a NIR graph (it has no 'node' group).")
            problems = list(_scan(f["node"], ""))
    except (OSError, RecursionError) as e:
        raise ModelFileError(f"{path} is not a readable NIR file ({type(e).__name__}: {e}).") from None
    if problems:
        raise ModelFileError(f"{path} cannot be imported: {'; '.join(problems)}.")
    try:
        return nir.read(path, type_check=False)
    except (OSError, ValueError, TypeError, KeyError, AssertionError, AttributeError, IndexError,
            NotImplementedError, RecursionError) as e:
        raise ModelFileError(f"{path} is not a valid NIR graph ({type(e).__name__}: {e}).") from None


def _scan(group, name: str):
    """Problems of the stored node ``group`` and its children: type, then parameters."""
    import h5py

    where = f"node {name!r}" if name else "the graph"
    stored = group.get("type") if isinstance(group, h5py.Group) else None
    if not isinstance(stored, h5py.Dataset):
        yield f"{where} has no type"
        return
    kind = stored[()]
    kind = kind.decode("utf-8", "replace") if isinstance(kind, bytes) else str(kind)
    problem = type_problem(name, kind)
    if problem or (not name and kind != "NIRGraph"):
        yield problem or f"the file holds a single {kind} node, not a NIRGraph"
        return
    missing = [p for p in NODES[kind][0] if p not in group]
    if missing:
        yield f"{where} ({kind}) is missing parameter(s) {', '.join(missing)}"
    elif kind == "NIRGraph":
        children = group["nodes"]
        if not isinstance(children, h5py.Group):
            yield f"{where} (NIRGraph) stores its nodes wrongly"
            return
        for child in children:
            yield from _scan(children[child], f"{name}.{child}" if name else child)


def type_problem(name: str, kind: str) -> str | None:
    """Why node ``name`` of NIR type ``kind`` cannot be imported (None when it can)."""
    where = f"node {name!r}" if name else "the graph"
    if kind in UNSUPPORTED:
        return (f"{where} is a {kind}, which snudeploy does not import (convolutions, pooling and delays are "
                f"not supported; supported: {SUPPORTED_TEXT})")
    if kind not in NODES:
        return f"{where} has unknown node type {kind!r} (supported: {SUPPORTED_TEXT})"
    return None


def plan(graph) -> Plan:
    """The :class:`Plan` of ``graph`` (a ``nir.NIRGraph``); :class:`ModelFileError` names what is wrong."""
    if type(graph).__name__ != "NIRGraph":
        raise ModelFileError(f"Expected a NIR graph (nir.NIRGraph), got a {type(graph).__name__}.")
    raw, edges = {}, []
    _flatten(graph, "", raw, edges)
    inputs = [n for n, (kind, _) in raw.items() if kind == "Input"]
    outputs = [n for n, (kind, _) in raw.items() if kind == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelFileError(f"A snudeploy step graph takes one input and gives one output; the NIR graph has "
                             f"{len(inputs)} Input node(s) {inputs} and {len(outputs)} Output node(s) {outputs}.")
    start, end = inputs[0], outputs[0]
    for source, target in edges:
        if target == start or source == end:
            raise ModelFileError(f"Edge {source} -> {target} runs into the Input or out of the Output node.")
    order, feedback = _order(raw, edges, start)
    unreached = sorted(set(raw) - set(order))
    if unreached:
        raise ModelFileError(f"Node(s) {', '.join(unreached)} cannot be reached from the Input node {start!r}.")
    sources = {name: tuple(a for a, b in edges if b == name) for name in order}
    nodes = _nodes(raw, order, sources, set(feedback))
    metadata = dict(getattr(graph, "metadata", None) or {})
    return Plan(nodes=nodes, input=start, output=end, feedback=tuple(feedback), metadata=metadata)


def _flatten(graph, prefix: str, raw: dict, edges: list) -> tuple[str, str] | None:
    """Add ``graph``'s nodes to ``raw`` (name -> (type, nir node)) and its edges to ``edges``.

    A subgraph's Input and Output nodes pass values through; an edge that names the subgraph
    itself joins its Input (as a target) or its Output (as a source). Returns those two names.
    """
    ends = {}  # subgraph key -> (its Input node, its Output node), full names
    for key, node in graph.nodes.items():
        key, kind = str(key), type(node).__name__
        name = prefix + key
        problem = type_problem(name, kind)
        if problem:
            raise ModelFileError(f"The NIR graph cannot be imported: {problem}.")
        if name in raw:
            raise ModelFileError(f"The NIR graph names node {name!r} twice (after flattening its subgraphs).")
        if kind == "NIRGraph":
            ends[key] = _flatten(node, name + ".", raw, edges)
        else:
            raw[name] = (IDENTITY if prefix and kind in ("Input", "Output") else kind, node)
    seen = set()
    for edge in graph.edges:
        if len(edge) != 2:
            raise ModelFileError(f"The NIR graph has an edge {edge!r} that does not join two nodes.")
        source, target = (str(end) for end in edge)
        source = ends[source][1] if source in ends else prefix + source
        target = ends[target][0] if target in ends else prefix + target
        missing = [end for end in (source, target) if end not in raw]
        if missing:
            raise ModelFileError(f"Edge {source} -> {target} names node {missing[0]!r}, which the graph does not have.")
        if (source, target) in seen:
            raise ModelFileError(f"The NIR graph lists edge {source} -> {target} twice.")
        seen.add((source, target))
        edges.append((source, target))
    if not prefix:
        return None
    kinds = {str(k): type(n).__name__ for k, n in graph.nodes.items()}
    inputs, outputs = ([k for k, kind in kinds.items() if kind == wanted] for wanted in ("Input", "Output"))
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelFileError(f"Subgraph {prefix[:-1]!r} has {len(inputs)} Input and {len(outputs)} Output "
                             "node(s); snudeploy connects subgraphs through one of each.")
    return prefix + inputs[0], prefix + outputs[0]


def _order(raw: dict, edges: list, start: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(reverse post-order of a depth-first walk from ``start``, the edges that close cycles)."""
    successors = {name: [] for name in raw}
    for source, target in edges:
        successors[source].append(target)
    open_, done, post, feedback = {start}, set(), [], []
    stack = [(start, iter(successors[start]))]
    while stack:
        name, remaining = stack[-1]
        target = next(remaining, None)
        if target is None:
            stack.pop()
            open_.discard(name)
            done.add(name)
            post.append(name)
        elif target in open_:
            feedback.append((name, target))
        elif target not in done:
            open_.add(target)
            stack.append((target, iter(successors[target])))
    return post[::-1], feedback


def _nodes(raw: dict, order: list, sources: dict, feedback: set) -> dict:
    """Nodes in ``order`` with checked parameters and widths; every edge checked."""
    nodes, wanted = {}, {}
    for name in order:
        kind, node = raw[name]
        params = _parameters(name, kind, node)
        takes, gives = _widths(name, kind, node, params)
        if gives is None:  # pass-through nodes and neurons with scalar parameters take their input's width
            current = [nodes[s].width for s in sources[name] if (s, name) not in feedback]
            gives = takes = current[0] if current else None
        if gives is None:
            raise ModelFileError(f"Node {name!r} ({kind}) has no width: its parameters are scalars and it has no "
                                 "input of the current step.")
        wanted[name] = takes
        nodes[name] = Node(name, kind, params, int(gives), sources[name])
    for name, node in nodes.items():
        for source in node.inputs:
            if nodes[source].width != wanted[name]:
                raise ModelFileError(f"Shape mismatch along edge {source} -> {name}: {source} gives "
                                     f"{nodes[source].width} values, {name} ({node.type}) takes {wanted[name]}.")
    return nodes


def _parameters(name: str, kind: str, node) -> dict:
    """Parameter name -> float64 array (flat, except weights); :class:`ModelFileError` when invalid."""
    if kind in ("Input", "Output", *PASS_THROUGH):
        return {}
    required, optional = NODES[kind]
    params = {}
    for key in (*required, *optional):
        value = getattr(node, key, None)
        if value is None:
            value = optional.get(key)
        if value is None:
            raise ModelFileError(f"Node {name!r} ({kind}) is missing parameter {key}.")
        try:
            array = np.asarray(value, np.float64)
        except (TypeError, ValueError):
            raise ModelFileError(f"Node {name!r} ({kind}): parameter {key} is not numeric.") from None
        if not np.isfinite(array).all():
            raise ModelFileError(f"Node {name!r} ({kind}): parameter {key} holds NaN or Inf.")
        if key in POSITIVE and not (array > 0).all():
            raise ModelFileError(f"Node {name!r} ({kind}): time constant {key} must be > 0 everywhere.")
        params[key] = array if key == "weight" else array.reshape(-1)
    return params


def _widths(name: str, kind: str, node, params: dict) -> tuple[int | None, int | None]:
    """(values the node takes, values it gives); None where they follow its input."""
    if type(node).__name__ in ("Input", "Output"):  # subgraphs' too: their shapes are checked along edges
        shape = node.input_type["input"] if type(node).__name__ == "Input" else node.output_type["output"]
        if shape is None:
            raise ModelFileError(f"Node {name!r} ({kind}) has no shape.")
        width = int(np.prod(np.asarray(shape, np.int64)))
        if width < 1:
            raise ModelFileError(f"Node {name!r} ({kind}) has shape {list(np.asarray(shape))}, with no values.")
        return width, width
    if kind in ("Affine", "Linear"):
        weight = params["weight"]
        if weight.ndim != 2 or 0 in weight.shape:
            raise ModelFileError(f"Node {name!r} ({kind}): weight must be a 2-D (out, in) matrix, "
                                 f"got shape {list(weight.shape)}.")
        if kind == "Affine" and params["bias"].size not in (1, weight.shape[0]):
            raise ModelFileError(f"Node {name!r} (Affine): bias has {params['bias'].size} values for "
                                 f"{weight.shape[0]} outputs.")
        return weight.shape[1], weight.shape[0]
    sizes = {p.size for p in params.values()}
    width = max(sizes, default=1)
    if not sizes <= {1, width} or width == 0:
        detail = ", ".join(f"{k} {v.size}" for k, v in params.items())
        raise ModelFileError(f"Node {name!r} ({kind}): parameters of different sizes ({detail}).")
    return (width, width) if width > 1 else (None, None)
