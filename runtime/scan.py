"""A step graph rolled over time inside ONNX Runtime: K steps of many streams in one call.

:func:`sequence_graph` turns a snudeploy step graph (``x [B, *input]`` and states in;
``spikes [B, C]`` and next states out) into a sequence graph (``x [B, T, *input]`` and
states in; ``spikes [B, T, C]`` and the states after step T out) built around one ONNX
``Scan`` whose body is the step graph: the states are Scan's loop-carried values, the
input is scanned along the time axis. The body runs the step graph's own nodes on the same
shapes as a step, so every step of a chunk computes what a single step computes.

Nodes that read the input and weights only (the first layer's projection ``x W``, int8 or
float, or its convolution) do not depend on the state, so they run once over the B*T
frames before the Scan instead of T times inside it (hoisted): one larger product instead
of T small ones, which matters most for one stream, where a product per step reads the
whole weight matrix for one row. Only operators that treat axis 0 as independent rows
are hoisted (:data:`ROW_WISE`); a step graph whose first nodes are anything else is
scanned whole. A hoisted product has more rows than a step's, so its float sums may
differ in the last bit (states within the float tolerance, spikes compared exactly by the
tests); integer products are exact.

Initializers and nodes that read only initializers stay in the outer graph, where the
body reads them from the outer scope; every value of the body is renamed with
:data:`PREFIX`, so the outer graph keeps the step graph's input, state and output names.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ConfigurationError
from ..metadata import ModelInfo
from .model import LoadedModel

PREFIX = "snudeploy_step_"
ROW_WISE = {"MatMul", "MatMulInteger", "Conv", "ConvInteger", "Cast", "Mul", "Add", "Sub", "Div", "Identity",
            "Transpose", "Reshape"}  # Transpose and Reshape: only when they keep axis 0 (see _row_wise)
MIN_OPSET = 11  # Scan with scan_input_axes/scan_output_axes and outer-scope references


def rolled(model: LoadedModel) -> LoadedModel:
    """The loaded step graph ``model`` as a sequence graph (:func:`sequence_graph`), ready for an Engine.

    Its metadata is the step graph's with ``graph = "sequence"`` and no rates output; its
    source names it in messages as the step graph rolled by Scan.
    """
    payload = model.payload
    proto = onnx.load_model_from_string(payload) if isinstance(payload, bytes) else onnx.load(payload)
    info = model.info
    info = info.replace(graph="sequence", outputs=dataclasses.replace(info.outputs, rates=None))
    return LoadedModel(source=f"{model.source} (rolled over time by Scan)",
                       payload=sequence_graph(proto, model.info).SerializeToString(), info=info, fixed_timesteps=None)


def sequence_graph(model: onnx.ModelProto, info: ModelInfo) -> onnx.ModelProto:
    """The step graph ``model`` (described by ``info``) as a sequence graph of any T (see the module docstring).

    Raises:
        ConfigurationError: ``model`` is not a step graph, its opset predates ``Scan`` with
            axes, or an output does not depend on the state.
    """
    if info.graph != "step":
        raise ConfigurationError(f"Only a step graph can be rolled over time by Scan; this is a {info.graph} graph.")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise ConfigurationError(f"Rolling a step graph over time needs opset {MIN_OPSET} or newer; this model "
                                 f"has opset {opset}.")
    return _build(model, info, hoist=True) or _build(model, info, hoist=False) or _unrollable(info)


def _build(model: onnx.ModelProto, info: ModelInfo, hoist: bool) -> onnx.ModelProto | None:
    """The rolled graph, or None when hoisting leaves an output or a type outside the body (then try without)."""
    graph = model.graph
    x, states, spikes = info.input.name, info.states, info.outputs.spikes
    initializers = list(graph.initializer)
    outer, frames, body = _split(graph.node, x, {t.name: t for t in initializers}, hoist)
    made = {name for node in body for name in node.output}
    if any(name not in made for name in [*(s.output for s in states), spikes]):
        return None
    read = {name for node in body for name in _reads(node)}
    scanned = [x] * (x in read) + [name for node in frames for name in node.output if name in read]
    types = {x: TensorProto.FLOAT, **(_types(model) if frames else {})}
    if any(name not in types for name in scanned):
        return None

    local = {s.input for s in states} | set(scanned) | made
    step = helper.make_graph(
        [_renamed(node, {name: PREFIX + name for name in local}) for node in body], "snudeploy_step_body",
        [_value(PREFIX + s.input, s.shape) for s in states] + [_value(PREFIX + n, None, types[n]) for n in scanned],
        [_value(PREFIX + s.output, s.shape) for s in states] + [_value(PREFIX + spikes, info.output_shape)])

    def constant(name: str, values) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(values, np.int64), PREFIX + name))
        return PREFIX + name

    nodes, sequences = list(outer), []
    if frames:  # [B, T, *input] -> [B*T, *input]: the hoisted nodes run once over every frame
        nodes.append(helper.make_node("Reshape", [x, constant("frame_shape", [-1, *info.input.shape])],
                                      [PREFIX + "frames"]))
        nodes += [_renamed(node, {x: PREFIX + "frames"}) for node in frames]
        nodes.append(helper.make_node("Shape", [x], [PREFIX + "input_shape"]))
        nodes.append(helper.make_node("Slice", [PREFIX + "input_shape", constant("zero", [0]), constant("two", [2])],
                                      [PREFIX + "batch_time"]))
    for name in scanned:  # a hoisted value [B*T, *rest] -> [B, T, *rest], scanned along T
        if name == x:
            sequences.append(x)
            continue
        shape, rest, target, steps = (f"{PREFIX}{name}_{part}" for part in ("shape", "rest", "target", "steps"))
        nodes += [helper.make_node("Shape", [name], [shape]),
                  helper.make_node("Slice", [shape, constant("one", [1]), constant("end", [np.iinfo(np.int64).max])],
                                   [rest]),
                  helper.make_node("Concat", [PREFIX + "batch_time", rest], [target], axis=0),
                  helper.make_node("Reshape", [name, target], [steps])]
        sequences.append(steps)
    nodes.append(helper.make_node("Scan", [s.input for s in states] + sequences, [s.output for s in states] + [spikes],
                                  body=step, num_scan_inputs=len(sequences), scan_input_axes=[1] * len(sequences),
                                  scan_output_axes=[1]))
    declared = {v.name: v for v in [*graph.input, *graph.output]}
    inputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", "time", *info.input.shape])]
    outputs = [helper.make_tensor_value_info(spikes, TensorProto.FLOAT, ["batch", "time", *info.output_shape])]
    rolled = helper.make_graph(nodes, "snudeploy_rolled_step", inputs + [declared[s.input] for s in states],
                               [declared[s.output] for s in states] + outputs,
                               list(dict((t.name, t) for t in initializers).values()))
    result = helper.make_model(rolled, opset_imports=list(model.opset_import), ir_version=model.ir_version,
                               producer_name="snudeploy")
    result.functions.extend(model.functions)
    return result


def _split(nodes, x: str, constants: dict, hoist: bool) -> tuple[list, list, list]:
    """``(outer, frames, body)``: nodes of weights only, hoistable nodes of the input, nodes of the state."""
    static, streamed = set(constants) | {""}, {x}
    outer, frames, body = [], [], []
    for node in nodes:
        reads = _reads(node)
        if all(name in static for name in reads):
            outer.append(node)
            static.update(node.output)
        elif hoist and all(name in static or name in streamed for name in reads) and _row_wise(node, streamed,
                                                                                               constants):
            frames.append(node)
            streamed.update(node.output)
        else:
            body.append(node)
    return outer, frames, body


def _row_wise(node: onnx.NodeProto, streamed: set, constants: dict) -> bool:
    """Whether ``node`` computes each row of axis 0 from that row alone (so it may run on B*T rows at once)."""
    if node.domain not in ("", "ai.onnx") or node.op_type not in ROW_WISE:
        return False
    if node.op_type in ("MatMul", "MatMulInteger", "Conv", "ConvInteger"):  # rows x weights, not the reverse
        return node.input[0] in streamed and not any(name in streamed for name in node.input[1:])
    if node.op_type == "Transpose":
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), [])
        return bool(perm) and perm[0] == 0
    if node.op_type == "Reshape":  # only with a constant shape that copies axis 0
        shape = constants.get(node.input[1])
        return shape is not None and numpy_helper.to_array(shape).reshape(-1)[:1].tolist() == [0]
    return True


def _reads(node: onnx.NodeProto) -> set[str]:
    """The values ``node`` reads: its inputs and whatever its subgraphs read (a superset is fine)."""
    names = {name for name in node.input if name}
    for attribute in node.attribute:
        for graph in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs):
            for inner in graph.node:
                names |= _reads(inner)
    return names


def _renamed(node: onnx.NodeProto, names: dict[str, str]) -> onnx.NodeProto:
    """A copy of ``node`` reading and writing ``names[v]`` for every value ``v`` in ``names`` (subgraphs too)."""
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    stack = [copy]
    while stack:
        current = stack.pop()
        current.input[:] = [names.get(name, name) for name in current.input]
        current.output[:] = [names.get(name, name) for name in current.output]
        for attribute in current.attribute:
            for graph in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs):
                stack.extend(graph.node)
    return copy


def _types(model: onnx.ModelProto) -> dict[str, int]:
    """Element types of the step graph's intermediate values, by ONNX shape inference (empty when it fails)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError):
        return {}
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {v.name: v.type.tensor_type.elem_type for v in values
            if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type}


def _value(name: str, shape, elem_type: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    """A body input or output: ``[batch, *shape]`` when the shape is known (Scan needs its outputs' shapes)."""
    return helper.make_tensor_value_info(name, elem_type, None if shape is None else ["batch", *shape])


def _unrollable(info: ModelInfo):
    raise ConfigurationError(f"This step graph cannot be rolled over time: its outputs "
                             f"{[s.output for s in info.states] + [info.outputs.spikes]} must be computed from its "
                             "state inputs.")
