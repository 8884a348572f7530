"""int8 graphs from float SNU graphs: integer MatMuls on spikes, exact on every CPU.

Every ``MatMul`` of an SNU graph multiplies spikes (exactly 0 or 1) by weights. Its int8
form here is explicit integer arithmetic::

    MatMul(a, W)  ->  Mul(Cast<float>(MatMulInteger(Cast<uint8>(a), W_q)), scale)

with ``W_q`` int8 (symmetric, zero point 0; scales computed by ONNX Runtime's quantization
utilities, per output unit or per layer) and spikes as uint8 with scale 1 and zero point 0.
The integer product is exact in int32, and one rounding (``* scale``) makes it float, so
ONNX Runtime (AVX2, AVX-512/VNNI, CUDA) and ``onnx.reference`` compute the same bits: with
spikes stored as 255 (scale 1/255) ONNX Runtime's AVX2 u8 x s8 kernels add pairs of products
in saturating int16 (255 x 127 x 2 > 32767) and results depended on the CPU.

What stays float, and why: the membrane update (decay, reset, ``g``) and the threshold test.
A spike is decided by ``s - b > 0``; rounding ``s`` or ``b`` to 8 bits flips every spike near
the threshold and compounds through the state over time. The only error int8 adds is the
weights' rounding.

The int8 formats are ``step`` and ``customop`` with its functions inlined first: ``SNULayer``
hoists ``x W`` for all time steps out of its ``Scan``, so after inlining every feed-forward
MatMul sits in the main graph once, whatever T. A recurrent kernel's MatMul stays inside the
``Scan`` body, float, in sequence graphs (the step graph quantizes it).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ConfigurationError

QUANTIZABLE = {"step": "step", "customop": "sequence"}  # format -> the graph of it that is quantized
FLOAT_OPS_NOTE = ("MatMul as MatMulInteger (uint8 spikes x int8 weights, int32, then * scale); threshold, "
                  "decay/reset and g float")


def inline_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its model-local functions (``ai.snudeploy`` ops) expanded in place."""
    import onnx.inliner

    return onnx.inliner.inline_local_functions(model) if model.functions else model


def quantize_weights(kernel: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(int8 weights, float32 scales)``, symmetric, zero point 0 (ONNX Runtime's quantization math).

    ``scales`` has one entry per output unit (``per_channel``) or one for the whole kernel.
    """
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
    """A copy of ``float_model`` (functions inlined) with every main-graph ``MatMul`` on a weight made integer."""
    model = onnx.ModelProto()
    model.CopyFrom(inline_functions(float_model))
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    as_uint8, new_nodes, replaced = {}, [], 0
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights:
            new_nodes.append(node)
            continue
        spikes, kernel_name = node.input
        kernel = numpy_helper.to_array(weights[kernel_name])
        if kernel.ndim != 2:
            raise ConfigurationError(f"Cannot quantize MatMul {node.name!r}: its weight is not a matrix.")
        q, scale = quantize_weights(kernel, per_channel)
        base = f"{kernel_name}_int8"
        graph.initializer.extend([numpy_helper.from_array(q, base), numpy_helper.from_array(scale, f"{base}_scale")])
        if spikes not in as_uint8:
            as_uint8[spikes] = f"{spikes}_uint8"
            new_nodes.append(helper.make_node("Cast", [spikes], [as_uint8[spikes]], to=TensorProto.UINT8,
                                              name=f"{spikes}_to_uint8"))
        out = node.output[0]
        accumulated = f"{out}_int32"
        new_nodes += [
            helper.make_node("MatMulInteger", [as_uint8[spikes], base], [accumulated], name=f"{out}_matmul_int8"),
            helper.make_node("Cast", [accumulated], [f"{accumulated}_float"], to=TensorProto.FLOAT,
                             name=f"{out}_to_float"),
            helper.make_node("Mul", [f"{accumulated}_float", f"{base}_scale"], [out], name=f"{out}_scale"),
        ]
        replaced += 1
    if not replaced:
        raise ConfigurationError("The graph has no MatMul on weights to quantize.")
    del graph.node[:]
    graph.node.extend(new_nodes)
    used = {name for n in graph.node for name in n.input} | _subgraph_inputs(graph)
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model, full_check=True)
    return model


def int8_weight_fraction(model: onnx.ModelProto) -> float:
    """Fraction of initializer bytes held as int8/uint8 (how much of the model got quantized)."""
    total = quantized = 0
    for tensor in model.graph.initializer:
        size = len(tensor.raw_data) or numpy_helper.to_array(tensor).nbytes
        total += size
        if tensor.data_type in (TensorProto.INT8, TensorProto.UINT8):
            quantized += size
    return quantized / total if total else 0.0


def _subgraph_inputs(graph: onnx.GraphProto) -> set[str]:
    """Names read inside Loop/Scan bodies (outer-scope weights such as a recurrent kernel)."""
    names = set()
    for node in graph.node:
        for attribute in node.attribute:
            bodies = [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)
            for body in bodies:
                names |= {name for n in body.node for name in n.input} | _subgraph_inputs(body)
    return names
