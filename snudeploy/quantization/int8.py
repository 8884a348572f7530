"""int8 graphs from float SNU graphs: integer products on spikes, the same bits on every CPU.

Every ``MatMul`` and ``Conv`` of an SNU graph multiplies whole numbers by weights: spikes
(exactly 0 or 1), or sums of spikes after sum pooling. That is ``x W`` (or the convolution of
x) in the main graph and, in sequence graphs of recurrent layers, ``y_prev H`` inside the
``Scan`` body. Its int8 form here is explicit integer arithmetic::

    MatMul(a, W)  ->  Mul(Cast<float>(MatMulInteger(Cast<uint8>(a), W_q)), scale)
    Conv(a, W)    ->  Mul(Cast<float>(ConvInteger(Cast<uint8>(a), W_q)), scale)

with ``W_q`` int8 (symmetric, zero point 0; scales computed by ONNX Runtime's quantization
utilities, per output unit or filter, or per layer) and the whole numbers as uint8 with scale 1
and zero point 0. Average pooling gives fractions, so a network with it has no int8 graph.
A kernel gets the same ``W_q`` and scale wherever it is used, so step and sequence graphs of
one network compute the same bits too.

What stays float, and why: the membrane update (decay, reset, ``g``) and the threshold test.
A spike is decided by ``s - b > 0``; rounding ``s`` or ``b`` to 8 bits flips every spike near
the threshold and compounds through the state over time. The only error int8 adds is the
weights' rounding.

**The same bits on every CPU, by construction.** A float sum has no fixed order: ONNX Runtime's
AVX2 and AVX-512 kernels block a float MatMul differently, so its last bit depends on the CPU
(a float ``y_prev H`` left in the ``Scan`` body changed 124 of 1,152 states by one ulp on AVX2).
An int8 graph therefore holds only the ops of :data:`EXACT_OPS`, whose results no kernel can
change; :func:`cpu_dependent_nodes` checks a graph, its subgraphs and functions, and
:func:`quantize_graph` refuses to return a graph that fails it:

* ``MatMulInteger`` and ``ConvInteger``: int32 sums of integer products, exact in any order,
  made float once (exactly below 2**24). Their uint8 operand must be whole numbers of at most
  128 - spikes, sums of at most 128 spikes, or the model input (which the runtime keeps within
  0..128) - so the u8 x s8 kernels that add pairs of products in saturating int16 (AVX2,
  AVX-512 without VNNI) cannot saturate: a pair of products of values up to 128 and int8
  weights stays within -32768..32512;
* elementwise ops round each result once (IEEE 754), the same on every kernel; ``Scan`` steps
  in the graph's order;
* reductions only over spikes: ``ReduceMax`` (lateral inhibition) returns one of its inputs,
  and ``ReduceMean`` (the sequence graph's rates) adds whole numbers, exactly in any order below
  2**24, then divides once; ``ReduceSum`` (sum pooling) only over whole numbers.

:func:`refusal` names the networks that have no int8 graph for these reasons: real-valued input
(the ``direct`` encoding: its first product would be a float sum) and a membrane readout's
maximum over time (a ``ReduceMax`` of real values: the sign of a zero maximum is not fixed).

The int8 formats are ``step`` and ``customop`` with its functions inlined first: ``SNULayer``
hoists ``x W`` for all time steps out of its ``Scan``, so after inlining every feed-forward
MatMul sits in the main graph once, whatever T.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ConfigurationError
from ..metadata import INPUT_NAME, state_names

QUANTIZABLE = {"step": "step", "customop": "sequence"}  # format -> the graph of it that is quantized
FLOAT_OPS_NOTE = ("MatMul and Conv as MatMulInteger and ConvInteger (uint8 spikes x int8 weights, int32, then "
                  "* scale); threshold, decay/reset and g float")
# The ops an int8 graph may hold: op -> why ONNX Runtime computes it as onnx.reference does on every CPU.
EXACT_OPS = {
    "MatMulInteger": "integer products summed in int32: exact in any order (uint8 operand: whole numbers <= 128)",
    "ConvInteger": "integer products summed in int32: exact in any order (uint8 operand: whole numbers <= 128)",
    "Reshape": "moves values", "Slice": "moves values", "Concat": "moves values", "Shape": "a tensor's sizes",
    "ReduceSum": "over whole numbers only: exact in any order below 2**24",
    "Cast": "converts each element once (int32 to float: exact below 2**24)",
    "Add": "elementwise, one rounding", "Sub": "elementwise, one rounding", "Mul": "elementwise, one rounding",
    "LeakyRelu": "elementwise, one rounding", "Relu": "elementwise, exact", "Greater": "elementwise, exact",
    "Identity": "moves values", "Transpose": "moves values", "Constant": "a value",
    "Scan": "steps in the graph's order; its body is checked like the graph",
    "ReduceMax": "over spikes only: returns one of its inputs",
    "Gather": "moves values",
    "ReduceMean": "over spikes only: a whole-number sum (exact in any order below 2**24), divided once",
}
SPIKE_ONLY = {"ReduceMax", "ReduceMean"}  # reductions allowed only over spikes (0/1)
INTEGER_PRODUCTS = {"MatMul": "MatMulInteger", "Conv": "ConvInteger"}
UINT8_LIMIT = 128  # the largest whole number an integer product's uint8 operand may hold (see above)


def refusal(encoding, source: str, readout=None) -> str | None:
    """Why a network with ``encoding`` (an :class:`snudeploy.encoding.Encoder`) and ``readout`` has no int8
    graph, or None."""
    if encoding is not None and not encoding.SPIKES:
        return (f"{source} takes real values (the {encoding.kind} encoding), not spikes: its first layer's product "
                "would stay a float sum, which rounds differently on different CPUs, and int8 graphs give the same "
                "bits everywhere. Train with a spiking encoding (delta, latency, rate) to quantize.")
    if readout is not None and readout.kind == "membrane" and readout.reduce == "max":
        return (f"{source} reads the maximum of membrane values over time: a maximum of real numbers may differ "
                "in the sign of a zero between CPUs, and int8 graphs give the same bits everywhere. Train with "
                "--reduce last (or a spike readout) to quantize.")
    return None


def inline_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its model-local functions (``ai.snudeploy`` ops) expanded in place."""
    import onnx.inliner

    return onnx.inliner.inline_local_functions(model) if model.functions else model


def quantize_weights(kernel: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(int8 weights, float32 scales)``, symmetric, zero point 0 (ONNX Runtime's quantization math).

    ``kernel`` is a MatMul's ``[F, U]`` or a Conv's ``[F, C, kh, kw]``; ``scales`` has one entry
    per output unit or filter (``per_channel``, shaped to broadcast over the product's output:
    ``[U]``, or ``[F, 1, 1]`` over channels-first ``[N, F, H, W]``), or one for the whole kernel.
    """
    if kernel.ndim == 4:
        q, scales = quantize_weights(kernel.reshape(kernel.shape[0], -1).T, per_channel)
        return q.T.reshape(kernel.shape), scales.reshape(-1, 1, 1) if per_channel else scales
    from onnxruntime.quantization.quant_utils import quantize_data

    columns = [kernel[:, j] for j in range(kernel.shape[1])] if per_channel else [kernel]
    quantized, scales = [], []
    for values in columns:
        _, scale, q = quantize_data(np.ascontiguousarray(values, np.float32), TensorProto.INT8, symmetric=True)
        quantized.append(np.asarray(q, np.int8).reshape(values.shape))
        scales.append(float(scale))
    weights = np.stack(quantized, axis=1) if per_channel else quantized[0]
    return weights, np.asarray(scales if per_channel else scales[0], np.float32)


def quantize_graph(float_model: onnx.ModelProto, per_channel: bool) -> onnx.ModelProto:
    """A copy of ``float_model`` (functions inlined) with every ``MatMul`` on a weight made integer,
    in the main graph and in ``Scan`` bodies.

    Raises:
        ConfigurationError: no MatMul on a weight, a weight that is not a matrix, or a result that
            would still depend on the CPU (:func:`cpu_dependent_nodes`).
    """
    model = onnx.ModelProto()
    model.CopyFrom(inline_functions(float_model))
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}  # main-graph weights, visible in every body
    integer_weights = {}  # kernel name -> its int8 weights' name: one W_q and scale per kernel

    def int8_weights(node: onnx.NodeProto) -> str:
        name = node.input[1]
        if name not in integer_weights:
            kernel = numpy_helper.to_array(weights[name])
            if kernel.ndim != (2 if node.op_type == "MatMul" else 4):
                raise ConfigurationError(f"Cannot quantize {node.op_type} {node.name!r}: its weight has "
                                         f"{kernel.ndim} axes.")
            q, scale = quantize_weights(kernel, per_channel)
            integer_weights[name] = f"{name}_int8"
            graph.initializer.extend([numpy_helper.from_array(q, integer_weights[name]),
                                      numpy_helper.from_array(scale, f"{integer_weights[name]}_scale")])
        return integer_weights[name]

    def integer_matmuls(body: onnx.GraphProto) -> int:
        """Rewrite ``body``'s MatMuls and Convs on weights (and its subgraphs'); return how many."""
        as_uint8, new_nodes, replaced = {}, [], 0
        for node in body.node:
            for attribute in node.attribute:
                replaced += sum(integer_matmuls(sub) for sub in _subgraphs(attribute))
            if node.op_type not in INTEGER_PRODUCTS or len(node.input) != 2 or node.input[1] not in weights:
                new_nodes.append(node)
                continue
            spikes, base = node.input[0], int8_weights(node)
            if spikes not in as_uint8:
                as_uint8[spikes] = f"{spikes}_uint8"
                new_nodes.append(helper.make_node("Cast", [spikes], [as_uint8[spikes]], to=TensorProto.UINT8,
                                                  name=f"{spikes}_to_uint8"))
            out = node.output[0]
            accumulated = f"{out}_int32"
            product = helper.make_node(INTEGER_PRODUCTS[node.op_type], [as_uint8[spikes], base], [accumulated],
                                       name=f"{out}_{node.op_type.lower()}_int8")
            product.attribute.extend(node.attribute)  # a Conv's strides and pads
            new_nodes += [
                product,
                helper.make_node("Cast", [accumulated], [f"{accumulated}_float"], to=TensorProto.FLOAT,
                                 name=f"{out}_to_float"),
                helper.make_node("Mul", [f"{accumulated}_float", f"{base}_scale"], [out], name=f"{out}_scale"),
            ]
            replaced += 1
        del body.node[:]
        body.node.extend(new_nodes)
        return replaced

    if not integer_matmuls(graph):
        raise ConfigurationError("The graph has no MatMul or Conv on weights to quantize.")
    used = {name for n in graph.node for name in n.input} | _subgraph_inputs(graph)
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model, full_check=True)
    problems = cpu_dependent_nodes(model)
    if problems:
        raise ConfigurationError("The int8 graph would compute different bits on different CPUs: "
                                 + "; ".join(problems))
    return model


def cpu_dependent_nodes(model: onnx.ModelProto) -> list[str]:
    """Why each node of ``model`` (graph, subgraphs, functions) could give different bits on different CPUs.

    Empty for a graph of :data:`EXACT_OPS` whose reductions (:data:`SPIKE_ONLY`) read spikes, whose
    ``ReduceSum`` reads whole numbers, and whose integer products read ``Cast<uint8>`` of whole numbers
    of at most :data:`UINT8_LIMIT`. Whole numbers are traced with their largest value: the model input
    (at most 128: the runtime refuses more for int8 graphs), spikes (1), which are a ``Cast`` of a
    ``Greater``, and a state input ``l{i}_y`` whose next value
    ``l{i}_y_next`` is spikes; ``Identity``, ``Transpose``, ``Reshape``, ``Slice`` and ``Scan`` move
    them; a ``ReduceSum`` over n of them holds at most n times their largest value.
    """
    graph = model.graph
    inputs, outputs = {v.name for v in graph.input}, {v.name for v in graph.output}
    states = {y: y_next for i in range(len(inputs)) for _, y, y_next in state_names(i, ("y",))
              if y in inputs and y_next in outputs}
    known = _static(model)
    problems, _ = _carried(states, lambda whole: _trace(graph.node, {INPUT_NAME: UINT8_LIMIT, **whole}, "", known))
    for function in model.functions:
        problems += _trace(function.node, {}, f"function {function.name}: ", ({}, {}))[0]
    return problems


def _static(model: onnx.ModelProto) -> tuple[dict[str, list], dict[str, list]]:
    """(every main-graph tensor's dims, None where not static, from ONNX shape inference;
    the graph's integer initializers as lists)."""
    inferred = onnx.shape_inference.infer_shapes(model).graph
    dims = {}
    for value in [*inferred.value_info, *inferred.input, *inferred.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            dims[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    constants = {t.name: numpy_helper.to_array(t).tolist() for t in model.graph.initializer
                 if t.data_type == TensorProto.INT64}
    return dims, constants


def _carried(candidates: dict[str, str], trace) -> tuple[list[str], dict[str, int]]:
    """``trace`` with the carried inputs that are spikes: ``candidates`` maps an input to the output
    that becomes it next step; assume all are spikes, drop those whose output is not, until none fails."""
    assumed = set(candidates)
    while True:
        problems, whole = trace(dict.fromkeys(assumed, 1))
        failed = {name for name in assumed if whole.get(candidates[name]) != 1}
        if not failed:
            return problems, whole
        assumed -= failed


def _trace(nodes, whole: dict[str, int], where: str, known: tuple) -> tuple[list[str], dict[str, int]]:
    """Walk ``nodes`` in order from ``whole`` (whole-number tensors -> their largest value; spikes: 1);
    return (problems, the whole-number tensors). ``known``: :func:`_static`'s dims and constants."""
    problems, comparisons, uint8_operands = [], set(), set()
    for node in nodes:
        op, name = node.op_type, f"{where}{node.op_type} {node.name or node.output[0]!r}"
        source = node.input[0] if node.input else None
        if node.domain not in ("", "ai.onnx") or op not in EXACT_OPS:
            problems.append(f"{name}: not an op whose result is the same on every CPU")
        elif op in SPIKE_ONLY and whole.get(source) != 1:
            problems.append(f"{name}: reduces values that are not spikes")
        elif op == "ReduceSum" and source not in whole:
            problems.append(f"{name}: sums values that are not whole numbers")
        elif op in INTEGER_PRODUCTS.values() and source not in uint8_operands:
            problems.append(f"{name}: its uint8 operand is not Cast<uint8> of whole numbers up to {UINT8_LIMIT} "
                            "(spikes, sums of spikes) or of the model input")
        if op == "Greater":
            comparisons.add(node.output[0])
        elif op == "Cast":
            if source in comparisons:
                whole[node.output[0]] = 1
            elif source in whole:
                whole[node.output[0]] = whole[source]
            to_uint8 = helper.get_node_attr_value(node, "to") == TensorProto.UINT8
            if to_uint8 and whole.get(source, UINT8_LIMIT + 1) <= UINT8_LIMIT:
                uint8_operands.add(node.output[0])
        elif op in ("Identity", "Transpose", "Reshape", "Slice") and source in whole:
            whole[node.output[0]] = whole[source]
        elif op == "ReduceSum" and source in whole:
            count = _reduced(node, *known)
            if count is not None:
                whole[node.output[0]] = whole[source] * count
        elif op == "Scan":
            problems += _scan(node, whole, f"{name} body: ")
    return problems, whole


def _reduced(node: onnx.NodeProto, dims: dict, constants: dict) -> int | None:
    """How many values a ``ReduceSum`` adds into each output (None when its axes or sizes are not static)."""
    shape = dims.get(node.input[0])
    axes = helper.get_node_attr_value(node, "axes") if any(a.name == "axes" for a in node.attribute) else None
    if axes is None and len(node.input) > 1:
        axes = constants.get(node.input[1])
    if shape is None or axes is None or any(shape[a] is None for a in axes):
        return None
    return int(np.prod([shape[a] for a in axes]))


def _scan(node: onnx.NodeProto, whole: dict[str, int], where: str) -> list[str]:
    """Trace a ``Scan`` body; add the node's spike outputs to ``whole``; return the body's problems."""
    body = helper.get_node_attr_value(node, "body")
    states = len(node.input) - helper.get_node_attr_value(node, "num_scan_inputs")
    inputs, outputs = [v.name for v in body.input], [v.name for v in body.output]
    carried = {inputs[k]: outputs[k] for k in range(states) if whole.get(node.input[k]) == 1}
    sliced = {inputs[k]: whole[node.input[k]] for k in range(states, len(inputs)) if node.input[k] in whole}
    problems, inside = _carried(carried, lambda assumed: _trace(body.node, {**whole, **assumed, **sliced}, where,
                                                                           ({}, {})))
    whole.update({out: inside[inner] for out, inner in zip(node.output, outputs) if inner in inside})
    return problems


def int8_weight_fraction(model: onnx.ModelProto) -> float:
    """Fraction of initializer bytes held as int8/uint8 (how much of the model got quantized)."""
    total = quantized = 0
    for tensor in model.graph.initializer:
        size = len(tensor.raw_data) or numpy_helper.to_array(tensor).nbytes
        total += size
        if tensor.data_type in (TensorProto.INT8, TensorProto.UINT8):
            quantized += size
    return quantized / total if total else 0.0


def _subgraphs(attribute: onnx.AttributeProto) -> list[onnx.GraphProto]:
    """The graphs an attribute holds (a Scan or Loop body, If branches)."""
    return [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)


def _subgraph_inputs(graph: onnx.GraphProto) -> set[str]:
    """Names read inside Loop/Scan bodies (outer-scope weights)."""
    names = set()
    for node in graph.node:
        for attribute in node.attribute:
            for body in _subgraphs(attribute):
                names |= {name for n in body.node for name in n.input} | _subgraph_inputs(body)
    return names
