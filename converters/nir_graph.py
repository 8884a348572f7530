"""A NIR graph as snudeploy runs it: read with clear errors, checked, flattened and ordered.

NIR (the Neuromorphic Intermediate Representation, the ``nir`` package of the ``[nir]``
extra) stores a graph of nodes and edges in HDF5; an edge carries its source's output to
its target, and a node with several incoming edges takes their sum. :func:`read` opens a
file and names every problem in one :class:`~snudeploy.errors.ModelFileError` (not HDF5,
unknown or unsupported node types, missing parameters) before ``nir.read`` sees it.
:func:`plan` turns a ``nir.NIRGraph`` (read from a file or built with the ``nir`` API) into
a :class:`Plan`: subgraphs flattened into ``outer.inner`` names, parameters as float64
arrays, every node's shape checked along every edge, and the order of one time step.

Cycles (recurrent connections, such as snnTorch's recurrent neurons) need a delay in
discrete time. The convention: walking the graph depth-first from its ``Input`` node,
following edges in the order the graph lists them, an edge that leads back to a node on the
current path closes a cycle, and carries its source's output of the *previous* step (zero
at the first step). Such edges are :attr:`Plan.feedback`; all other edges carry values of
the current step, and :attr:`Plan.nodes` lists the nodes in an order that respects them.

Shapes are NIR's, per sample and channels first as PyTorch's: a ``Conv2d`` takes and gives
``(C, H, W)``. Every node outputs a tensor of its :attr:`Node.shape`; a node takes its inputs
in :attr:`Node.takes`, and an input of another shape with as many values is read in C order
(a ``Flatten`` is such a reshape, and so is an ``Affine`` fed a ``(C, H, W)`` tensor).
Elementwise nodes (neurons, ``Scale``, ``Threshold``) keep their input's shape; their
parameters are scalars, hold as many values as the input, or broadcast to it (numpy's rules).
This module imports ``nir`` and ``h5py`` inside functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import arguments
from ..errors import ModelFileError
from ..extras import require

# NIR type -> (parameters a file must store, optional parameters with their defaults).
NODES = {
    "Input": (("shape",), {}),
    "Output": (("shape",), {}),
    "Flatten": ((), {"start_dim": 1, "end_dim": -1}),
    "Affine": (("weight", "bias"), {}),
    "Linear": (("weight",), {}),
    "Scale": (("scale",), {}),
    "Threshold": (("threshold",), {}),
    "Conv2d": (("weight", "bias", "stride", "padding", "dilation", "groups"), {}),
    "SumPool2d": (("kernel_size", "stride", "padding"), {}),
    "AvgPool2d": (("kernel_size", "stride", "padding"), {}),
    "LIF": (("tau", "r", "v_leak", "v_threshold"), {"v_reset": 0.0}),
    "CubaLIF": (("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"), {"v_reset": 0.0, "w_in": 1.0}),
    "LI": (("tau", "r", "v_leak"), {}),
    "CubaLI": (("tau_syn", "tau_mem", "r", "v_leak"), {"w_in": 1.0}),
    "IF": (("r", "v_threshold"), {"v_reset": 0.0}),
    "I": (("r",), {}),
    "NIRGraph": (("nodes", "edges"), {}),
}
NEURONS = ("LIF", "CubaLIF", "LI", "CubaLI", "IF", "I")
WINDOWED = ("Conv2d", "SumPool2d", "AvgPool2d")  # slide a window over (C, H, W)
GEOMETRY = ("stride", "padding", "dilation", "groups", "kernel_size", "start_dim", "end_dim")  # not float arrays
UNSUPPORTED = ("Conv1d", "Delay")
IDENTITY = "Identity"  # the Input/Output nodes of subgraphs
PASS_THROUGH = ("Flatten", IDENTITY)  # the same values, perhaps in another shape
POSITIVE = ("tau", "tau_syn", "tau_mem")
SUPPORTED_TEXT = ("Input, Output, Affine, Linear, Scale, Threshold, Flatten, Conv2d, SumPool2d, AvgPool2d, LIF, "
                  "CubaLIF, LI, CubaLI, IF, I")


@dataclass(frozen=True)
class Window:
    """Where a ``Conv2d`` or pooling node reads: kernel, stride, dilation, zero padding, groups."""
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right (ONNX's order)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def output(self, height: int, width: int) -> tuple[int, int]:
        """The output's height and width (PyTorch's and NIR's formula)."""
        return tuple((size + self.pads[i] + self.pads[i + 2] - self.dilation[i] * (self.kernel[i] - 1) - 1)
                     // self.stride[i] + 1 for i, size in enumerate((height, width)))


@dataclass(frozen=True)
class Node:
    """One node of the flattened graph.

    Attributes:
        name: its name (``outer.inner`` inside subgraphs).
        type: the NIR type, or ``"Identity"`` for the Input and Output nodes of subgraphs.
        params: parameter name -> float64 array; elementwise nodes' as arrays of :attr:`shape`.
        shape: what it outputs per sample (NIR's shape, e.g. ``(C, H, W)``).
        takes: the shape it takes each input in (an input of another shape with as many values
            is read in C order).
        inputs: its source nodes, in the order the graph lists the edges.
        window: a ``Conv2d``'s or pooling node's :class:`Window`.
    """
    name: str
    type: str
    params: dict
    shape: tuple[int, ...]
    takes: tuple[int, ...]
    inputs: tuple[str, ...]
    window: Window | None = None

    @property
    def width(self) -> int:
        """How many values it outputs per sample."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class Plan:
    """A checked graph: nodes in evaluation order, the edges that close cycles, its metadata."""
    nodes: dict
    input: str
    output: str
    feedback: tuple[tuple[str, str], ...]
    metadata: dict

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.nodes[self.input].shape

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
        return (f"{where} is a {kind}, which snudeploy does not import (1-D convolutions and delays are not "
                f"supported; supported: {SUPPORTED_TEXT})")
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
    """Nodes in ``order`` with checked parameters and shapes; every edge checked."""
    nodes = {}
    for name in order:
        kind, node = raw[name]
        params = _parameters(name, kind, node)
        current = [nodes[s].shape for s in sources[name] if (s, name) not in feedback]
        takes, gives, params, window = _shapes(name, kind, node, params, current[0] if current else None)
        for shape in (takes, gives):
            if math.prod(shape) > arguments.LIMITS["features"] or max(shape, default=1) > arguments.LIMITS["units"]:
                raise ModelFileError(f"Node {name!r} ({kind}) has shape {list(shape)}; snudeploy streams tensors of "
                                     f"at most {arguments.LIMITS['features']:,} values, {arguments.LIMITS['units']:,} "
                                     "along any axis.")
        nodes[name] = Node(name, kind, params, gives, takes, sources[name], window)
    for name, node in nodes.items():
        for source in node.inputs:
            if nodes[source].width != math.prod(node.takes):
                raise ModelFileError(f"Shape mismatch along edge {source} -> {name}: {source} gives "
                                     f"{nodes[source].width} values, {name} ({node.type}) takes "
                                     f"{math.prod(node.takes)}.")
    return nodes


def _parameters(name: str, kind: str, node) -> dict:
    """Parameter name -> float64 array in its stored shape; :class:`ModelFileError` when invalid."""
    if kind in ("Input", "Output", IDENTITY):
        return {}
    required, optional = NODES[kind]
    params = {}
    for key in (*required, *optional):
        value = getattr(node, key, None)
        if value is None:
            value = optional.get(key)
        if value is None:
            raise ModelFileError(f"Node {name!r} ({kind}) is missing parameter {key}.")
        if key in GEOMETRY:
            params[key] = value
            continue
        try:
            array = np.asarray(value, np.float64)
        except (TypeError, ValueError):
            raise ModelFileError(f"Node {name!r} ({kind}): parameter {key} is not numeric.") from None
        if not np.isfinite(array).all():
            raise ModelFileError(f"Node {name!r} ({kind}): parameter {key} holds NaN or Inf.")
        if key in POSITIVE and not (array > 0).all():
            raise ModelFileError(f"Node {name!r} ({kind}): time constant {key} must be > 0 everywhere.")
        params[key] = array
    return params


def _shapes(name: str, kind: str, node, params: dict, incoming: tuple | None):
    """``(takes, gives, params, window)`` of a node whose first input of this step has shape ``incoming``."""
    if type(node).__name__ in ("Input", "Output"):  # subgraphs' too: their shapes are checked along edges
        shape = _declared(name, kind, node.input_type["input"] if type(node).__name__ == "Input"
                          else node.output_type["output"])
        return shape, shape, params, None
    if kind in ("Affine", "Linear"):
        weight = params["weight"]
        if weight.ndim != 2 or 0 in weight.shape:
            raise ModelFileError(f"Node {name!r} ({kind}): weight must be a 2-D (out, in) matrix, "
                                 f"got shape {list(weight.shape)}.")
        if kind == "Affine":
            params["bias"] = _fitted(name, kind, "bias", params["bias"], (weight.shape[0],))
        return (weight.shape[1],), (weight.shape[0],), params, None
    if kind == "Flatten":
        declared = (node.input_type or {}).get("input")
        takes = _declared(name, kind, declared) if declared is not None else incoming
        if takes is None:
            raise ModelFileError(f"Node {name!r} (Flatten) has no input_type and no input of the current step.")
        return takes, _flattened(name, takes, _whole(name, kind, "start_dim", params["start_dim"]),
                                 _whole(name, kind, "end_dim", params["end_dim"])), params, None
    if kind in WINDOWED:
        return _windowed(name, kind, node, params, incoming)
    return _elementwise(name, kind, params, incoming)


def _declared(name: str, kind: str, shape) -> tuple[int, ...]:
    if shape is None:
        raise ModelFileError(f"Node {name!r} ({kind}) has no shape.")
    dims = np.asarray(shape).reshape(-1)
    if not 1 <= dims.size <= 8 or dims.dtype.kind not in "iuf" or (dims != np.round(dims)).any() or (dims < 1).any():
        raise ModelFileError(f"Node {name!r} ({kind}) has shape {list(dims)}; expected 1 to 8 positive whole numbers.")
    return tuple(int(d) for d in dims)


def _flattened(name: str, shape: tuple, start: int, end: int) -> tuple[int, ...]:
    """NIR's Flatten output shape: axes ``start``..``end`` of ``shape`` (no batch axis) joined into one."""
    head = shape[:start] if start != 0 else ()
    middle = math.prod(shape[start:end + 1] if end != -1 else shape[start:])
    tail = shape[end + 1:] if end not in (-1, len(shape) - 1) else ()
    out = (*head, middle, *tail)
    if math.prod(out) != math.prod(shape):
        raise ModelFileError(f"Node {name!r} (Flatten): start_dim {start} and end_dim {end} do not fit its input of "
                             f"shape {list(shape)}.")
    return out


def _whole(name: str, kind: str, key: str, value, minimum: int | None = None) -> int:
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "iuf" or not np.isfinite(array).all() \
            or array.item() != round(array.item()) or (minimum is not None and array.item() < minimum):
        raise ModelFileError(f"Node {name!r} ({kind}): {key} must be a whole number"
                             f"{'' if minimum is None else f' >= {minimum}'}, got {_short(value)}.")
    return int(array.item())


def _pair(name: str, kind: str, key: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (height, width) >= ``minimum``."""
    array = np.asarray(value)
    if array.size not in (1, 2) or array.dtype.kind not in "iuf":
        raise ModelFileError(f"Node {name!r} ({kind}): {key} must be one or two whole numbers, got {_short(value)}.")
    first, last = (_whole(name, kind, key, v, minimum) for v in array.reshape(-1)[[0, -1]])
    return first, last


def _windowed(name: str, kind: str, node, params: dict, incoming: tuple | None):
    """``Conv2d`` (weight ``(out, in / groups, kh, kw)``), ``SumPool2d`` and ``AvgPool2d`` on ``(C, H, W)``."""
    if kind == "Conv2d":
        weight = params["weight"]
        if weight.ndim != 4 or 0 in weight.shape:
            raise ModelFileError(f"Node {name!r} (Conv2d): weight must be 4-D (out, in, kh, kw), got shape "
                                 f"{list(weight.shape)}.")
        groups = _whole(name, kind, "groups", params["groups"], 1)
        if weight.shape[0] % groups:
            raise ModelFileError(f"Node {name!r} (Conv2d): {weight.shape[0]} output channels do not split into "
                                 f"{groups} groups.")
        params["bias"] = _fitted(name, kind, "bias", params["bias"], (weight.shape[0],))
        channels, kernel = weight.shape[1] * groups, weight.shape[2:]
        stride = _pair(name, kind, "stride", params["stride"], 1)
        dilation = _pair(name, kind, "dilation", params["dilation"], 1)
        pads = _conv_pads(name, params["padding"], kernel, stride, dilation)
        declared = getattr(node, "input_shape", None)
        spatial = None if declared is None else _declared(name, kind, declared)
        if spatial is not None and len(spatial) != 2:
            raise ModelFileError(f"Node {name!r} (Conv2d): input_shape must be (height, width), got {list(spatial)}.")
    else:
        kernel = _pair(name, kind, "kernel_size", params["kernel_size"], 1)
        stride = _pair(name, kind, "stride", params["stride"], 1)
        padding = _pair(name, kind, "padding", params["padding"], 0)
        pads, dilation, groups, spatial, channels = (*padding, *padding), (1, 1), 1, None, None
    window = Window(tuple(int(k) for k in kernel), stride, pads, dilation, groups)
    if spatial is None:
        if incoming is None or len(incoming) != 3 or (channels is not None and incoming[0] != channels):
            wanted = f"({channels}, height, width)" if channels else "(channels, height, width)"
            got = "no input of the current step" if incoming is None else f"an input of shape {list(incoming)}"
            raise ModelFileError(f"Node {name!r} ({kind}) takes {wanted} and records no input_shape; it has {got}.")
        takes = incoming
    else:
        takes = (channels, *spatial)
    out = window.output(*takes[1:])
    if min(out) < 1:
        raise ModelFileError(f"Node {name!r} ({kind}): a {list(kernel)} window with stride {list(stride)} and padding "
                             f"{list(pads)} does not fit an input of shape {list(takes)}.")
    filters = params["weight"].shape[0] if kind == "Conv2d" else takes[0]
    return takes, (filters, *out), params, window


def _conv_pads(name: str, padding, kernel, stride, dilation) -> tuple[int, int, int, int]:
    """ONNX pads of a ``Conv2d``'s ``padding``: whole numbers (each side), ``"valid"`` or ``"same"`` (PyTorch's:
    stride 1, the odd row or column at the end)."""
    if isinstance(padding, (bytes, np.bytes_)):
        padding = padding.decode("utf-8", "replace")
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ModelFileError(f"Node {name!r} (Conv2d): padding must be whole numbers, 'same' or 'valid', "
                                 f"got {padding!r}.")
        if stride != (1, 1):
            raise ModelFileError(f"Node {name!r} (Conv2d): padding 'same' with stride {list(stride)} is not defined "
                                 "(PyTorch takes it with stride 1 only); give the padding in whole numbers.")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2
    height, width = _pair(name, "Conv2d", "padding", padding, 0)
    return height, width, height, width


def _elementwise(name: str, kind: str, params: dict, incoming: tuple | None):
    """Neurons, ``Scale``, ``Threshold``: the input's shape (or, fed by cycles only, the parameters')."""
    largest = max(params.values(), key=lambda p: p.size)
    if incoming is not None and (largest.size in (1, math.prod(incoming)) or _broadcasts(largest.shape, incoming)):
        shape = incoming
    elif largest.size > 1:
        shape = largest.shape
    else:
        raise ModelFileError(f"Node {name!r} ({kind}) has no width: its parameters are scalars and it has no "
                             "input of the current step.")
    return shape, shape, {k: _fitted(name, kind, k, p, shape, params) for k, p in params.items()}, None


def _fitted(name: str, kind: str, key: str, value: np.ndarray, shape: tuple, params: dict | None = None) -> np.ndarray:
    """``value`` as an array of ``shape``: a scalar, as many values (C order), or numpy-broadcast."""
    if value.size == math.prod(shape):
        return value.reshape(shape)
    if value.size == 1 or _broadcasts(value.shape, shape):
        return np.broadcast_to(value, shape)
    detail = ", ".join(f"{k} {list(v.shape)}" for k, v in (params or {key: value}).items())
    raise ModelFileError(f"Node {name!r} ({kind}): parameters of different sizes ({detail}) for shape {list(shape)}.")


def _broadcasts(shape: tuple, target: tuple) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
