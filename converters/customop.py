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

from ..errors import ExportError
from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME, state_names
from . import snu_graph
from .network import SNULayerParams
from .snu_graph import Cell, Nodes

DOMAIN = "ai.snudeploy"
DOMAIN_VERSION = 1
IR_VERSION = 10
_ATTRIBUTES = ["decay", "g", "activation", "recurrent", "lateral_inhibition"]


def _cell(nodes: Nodes, variant: dict) -> Cell:
    """The function body's :class:`Cell`: ``decay`` comes from the node's attribute (a reference)."""
    decay = nodes("Constant", [])
    nodes.nodes[-1].attribute.append(
        helper.make_attribute_ref("value_float", onnx.AttributeProto.FLOAT, ref_attr_name="decay"))
    return Cell(variant["g"], variant["activation"], variant["recurrent"], variant["lateral_inhibition"], decay,
                nodes("Constant", [], value_float=1.0), "threshold", "recurrent_kernel")


def _function_inputs(variant: dict, first: str) -> list[str]:
    return [first, "y_prev", "s_prev", "kernel", "threshold"] + (["recurrent_kernel"] if variant["recurrent"] else [])


def snu_cell_function(variant: dict, opset: int) -> onnx.FunctionProto:
    """``SNUCell(x, y_prev, s_prev, kernel, threshold[, recurrent_kernel]) -> (y, s)``."""
    nodes = Nodes()
    cell = _cell(nodes, variant)
    snu_graph.step(nodes, cell, nodes("MatMul", ["x", "kernel"]), "y_prev", "s_prev", opset, "y", "s")
    return helper.make_function(DOMAIN, "SNUCell", _function_inputs(variant, "x"), ["y", "s"], nodes.nodes,
                                [helper.make_opsetid("", opset)], attributes=_ATTRIBUTES)


def snu_layer_function(variant: dict, opset: int) -> onnx.FunctionProto:
    """``SNULayer(x[B,T,F], y0, s0, kernel, threshold[, recurrent_kernel]) -> (Y[B,T,U], y_T, s_T)``."""
    nodes = Nodes()
    cell = _cell(nodes, variant)
    projection = nodes("MatMul", ["x", "kernel"])  # hoisted: all time steps in one MatMul
    body = Nodes("body_")
    snu_graph.step(body, cell, "p_t", "y_prev_t", "s_prev_t", opset, "y_t", "s_t")
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
    outputs, initializers, nodes = [], [], Nodes()
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
        mean = snu_graph.reduce(nodes, "ReduceMean", current, 1, opset, keepdims=0)
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
