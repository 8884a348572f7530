"""The ``customop`` format: one ``ai.snudeploy`` node per SNU layer.

It writes a sequence graph (one ``SNULayer`` node per layer, dynamic T) and a step graph
(one ``SNUCell`` node per layer) built from the same weights; no TensorFlow graph is
traced: the weights come from the checkpoint via :func:`snudeploy.converters.network.from_keras`,
or from numpy (tests, NIR import).

``SNUCell`` (one step) and ``SNULayer`` (a whole sequence) are custom-domain ops whose
implementation ships inside the model as model-local ONNX functions, so stock ONNX
Runtime (which inlines them) and ``onnx.reference`` both run the model, while a native
kernel registered for the domain could replace them. Node attributes: ``decay`` (float,
used by the body through an attribute reference), ``g``, ``activation`` (strings),
``recurrent`` and ``lateral_inhibition`` (ints).

A function's body is fixed, so the structural choices (g, h, recurrent kernel, reset
form) are specialised when the model is built; a model holds one variant, and the
builder checks that every layer agrees with it. ``SNULayer`` hoists the input projection
``x W`` for all time steps out of the ``Scan`` that carries (y, s).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import activation_table
from ..errors import ExportError
from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME, state_names
from .network import SNULayerParams

DOMAIN = "ai.snudeploy"
DOMAIN_VERSION = 1
IR_VERSION = 10
_ATTRIBUTES = ["decay", "g", "activation", "recurrent", "lateral_inhibition"]


class _Nodes:
    """Tiny node-list builder with unique intermediate names."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes, self._count = prefix, [], 0

    def __call__(self, op, inputs, outputs=None, **attrs):
        if outputs is None:
            self._count += 1
            outputs = [f"{self.prefix}{op.lower()}_{self._count}"]
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), **attrs))
        return outputs[0] if len(outputs) == 1 else outputs


def _axes(nodes: _Nodes, op: str, data: str, axis: int, opset: int, keepdims: int) -> str:
    """ReduceMax/ReduceMean over one axis; opset 18 moved ``axes`` from attribute to input."""
    if opset >= 18:
        axes = nodes("Constant", [], value=numpy_helper.from_array(np.array([axis], np.int64)))
        return nodes(op, [data, axes], keepdims=keepdims)
    return nodes(op, [data], axes=[axis], keepdims=keepdims)


def _step_body(nodes: _Nodes, projection: str, y_prev: str, s_prev: str, variant: dict, opset: int,
               decay: str, one: str, zero: str, threshold: str, recurrent_kernel: str | None,
               y_out: str, s_out: str) -> None:
    """Emit ``s = g(P + decay*s*r [+ y H])``, ``y = h(s - b)`` in TensorFlow's operation order."""
    fired = _axes(nodes, "ReduceMax", y_prev, -1, opset, keepdims=1) if variant["lateral_inhibition"] else y_prev
    reset = nodes("Sub", [one, fired])
    decayed = nodes("Mul", [nodes("Mul", [decay, s_prev]), reset])
    pre = nodes("Add", [projection, decayed])
    if variant["recurrent"]:
        pre = nodes("Add", [pre, nodes("MatMul", [y_prev, recurrent_kernel])])
    emit_activation(nodes, variant["g"], pre, s_out, zero)
    emit_activation(nodes, variant["activation"], nodes("Sub", [s_out, threshold]), y_out, zero)


def emit_activation(nodes: _Nodes, name: str, x: str, out: str, zero: str) -> None:
    """The ONNX nodes of activation ``name`` (see :mod:`snudeploy.activations`) from ``x`` to ``out``."""
    act = activation_table.get(name)
    if act.onnx_op == "Heaviside":  # exports as Greater + Cast, as tf2onnx converts the Keras step
        nodes("Cast", [nodes("Greater", [x, zero])], [out], to=TensorProto.FLOAT)
    else:
        nodes(act.onnx_op, [x], [out], **act.onnx_attributes)


def _constants(nodes: _Nodes):
    decay = nodes("Constant", [])
    nodes.nodes[-1].attribute.append(
        helper.make_attribute_ref("value_float", onnx.AttributeProto.FLOAT, ref_attr_name="decay"))
    one = nodes("Constant", [], value_float=1.0)
    zero = nodes("Constant", [], value_float=0.0)
    return decay, one, zero


def _function_inputs(variant: dict, first: str) -> list[str]:
    return [first, "y_prev", "s_prev", "kernel", "threshold"] + (["recurrent_kernel"] if variant["recurrent"] else [])


def snu_cell_function(variant: dict, opset: int) -> onnx.FunctionProto:
    """``SNUCell(x, y_prev, s_prev, kernel, threshold[, recurrent_kernel]) -> (y, s)``."""
    nodes = _Nodes("")
    decay, one, zero = _constants(nodes)
    projection = nodes("MatMul", ["x", "kernel"])
    _step_body(nodes, projection, "y_prev", "s_prev", variant, opset, decay, one, zero, "threshold",
               "recurrent_kernel", "y", "s")
    return helper.make_function(DOMAIN, "SNUCell", _function_inputs(variant, "x"), ["y", "s"], nodes.nodes,
                                [helper.make_opsetid("", opset)], attributes=_ATTRIBUTES)


def snu_layer_function(variant: dict, opset: int) -> onnx.FunctionProto:
    """``SNULayer(x[B,T,F], y0, s0, kernel, threshold[, recurrent_kernel]) -> (Y[B,T,U], y_T, s_T)``."""
    nodes = _Nodes("")
    decay, one, zero = _constants(nodes)
    projection = nodes("MatMul", ["x", "kernel"])  # hoisted: all time steps in one MatMul
    body = _Nodes("body_")
    _step_body(body, "p_t", "y_prev_t", "s_prev_t", variant, opset, decay, one, zero, "threshold",
               "recurrent_kernel", "y_t", "s_t")
    body("Identity", ["y_t"], ["y_seq_t"])
    value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)  # noqa: E731
    scan_body = helper.make_graph(body.nodes, "snu_scan_body",
                                  [value("y_prev_t"), value("s_prev_t"), value("p_t")],
                                  [value("y_t"), value("s_t"), value("y_seq_t")])
    time_major = nodes("Transpose", [projection], perm=[1, 0, 2])  # Scan walks axis 0
    y_time_major = nodes("Scan", ["y_prev", "s_prev", time_major], ["y_last", "s_last", "y_seq_tbu"],
                         body=scan_body, num_scan_inputs=1)[2]
    nodes("Transpose", [y_time_major], ["y_seq"], perm=[1, 0, 2])
    return helper.make_function(DOMAIN, "SNULayer", _function_inputs(variant, "x"), ["y_seq", "y_last", "s_last"],
                                nodes.nodes, [helper.make_opsetid("", opset)], attributes=_ATTRIBUTES)


def model_variant(layers: list[SNULayerParams]) -> dict:
    """The structural variant every layer of the model shares (the function bodies' shape)."""
    variants = {(p.g, p.activation, p.recurrent, p.lateral_inhibition) for p in layers}
    if len(variants) != 1:
        raise ExportError("The customop format needs every SNU layer to share g, activation, recurrent and "
                          f"lateral inhibition; this model mixes {sorted(variants)}.")
    g, activation, recurrent, lateral = variants.pop()
    return {"g": g, "activation": activation, "recurrent": recurrent, "lateral_inhibition": lateral}


def build(layers: list[SNULayerParams], graph: str, opset: int = 17, timesteps: int | None = None) -> onnx.ModelProto:
    """A ``customop`` model: ``graph="step"`` uses SNUCell nodes, ``"sequence"`` SNULayer nodes."""
    variant = model_variant(layers)
    sequence = graph == "sequence"
    op = "SNULayer" if sequence else "SNUCell"
    features = layers[0].features
    time_dim = [timesteps or "time"] if sequence else []
    inputs = [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", *time_dim, features])]
    outputs, initializers, nodes = [], [], _Nodes("")
    current = INPUT_NAME
    for i, params in enumerate(layers):
        (_, y_in, y_out), (_, s_in, s_out) = state_names(i)
        for name in (y_in, s_in):
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", params.units]))
        weights = {"kernel": params.kernel, "threshold": params.threshold}
        if params.recurrent:
            weights["recurrent_kernel"] = params.recurrent_kernel
        for key, array in weights.items():
            initializers.append(numpy_helper.from_array(np.asarray(array, np.float32), f"l{i}_{key}"))
        node_inputs = [current, y_in, s_in] + [f"l{i}_{key}" for key in weights]
        sequence_out = [f"l{i}_y_seq"] if sequence else []
        nodes(op, node_inputs, sequence_out + [y_out, s_out], domain=DOMAIN, name=f"snu_{i}",
              decay=float(params.decay), g=params.g, activation=params.activation,
              recurrent=int(params.recurrent), lateral_inhibition=int(params.lateral_inhibition))
        for name in (y_out, s_out):
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", params.units]))
        current = sequence_out[0] if sequence else y_out
    classes = layers[-1].units
    nodes("Identity", [current], [SPIKES_NAME])
    outputs.append(helper.make_tensor_value_info(SPIKES_NAME, TensorProto.FLOAT, ["batch", *time_dim, classes]))
    if sequence:
        mean = _axes(nodes, "ReduceMean", current, 1, opset, keepdims=0)
        nodes("Identity", [mean], [RATES_NAME])
        outputs.append(helper.make_tensor_value_info(RATES_NAME, TensorProto.FLOAT, ["batch", classes]))
    functions = [snu_layer_function(variant, opset) if sequence else snu_cell_function(variant, opset)]
    model = helper.make_model(
        helper.make_graph(nodes.nodes, f"snudeploy_customop_{graph}", inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, DOMAIN_VERSION)],
        functions=functions, producer_name="snudeploy", ir_version=IR_VERSION)
    return model


def build_format(ctx) -> dict:
    """The ``customop`` format's graphs: ``{"sequence": ..., "step": ...}``."""
    return {"sequence": build(ctx.layers, "sequence", opset=ctx.opset),
            "step": build(ctx.layers, "step", opset=ctx.opset)}
