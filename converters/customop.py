"""The ``customop`` format: one ``ai.snudeploy`` node per SNU layer.

It writes a sequence graph (one ``SNULayer`` / ``SNUConv2DLayer`` node per stateful layer,
dynamic T) and a step graph (one ``SNUCell`` / ``SNUConv2DCell`` node per stateful layer)
built from the same weights; stateless layers (pooling, flatten) are plain ONNX nodes
between them. No TensorFlow graph is traced: the weights come from the network
(:mod:`snudeploy.converters.network`).

The custom-domain ops' implementation ships inside the model as model-local ONNX functions,
so stock ONNX Runtime (which inlines them) and ``onnx.reference`` both run the model, while a
native kernel registered for the domain could replace them. Node attributes: ``decay``
(float, used by the body through an attribute reference), ``g``, ``activation`` (strings),
``recurrent`` and ``lateral_inhibition`` (ints, dense layers), ``strides`` and ``pads``
(ints, conv layers, used through attribute references).

A function's body is fixed, so its structural choices (g, h, recurrent kernel, reset form)
are specialised when the model is built; a model holds one variant per op, and the builder
checks that the layers of that op agree with it. ``SNULayer`` hoists the input projection
``x W`` for all time steps out of the ``Scan`` that carries (y, s); ``SNUConv2DLayer``
convolves each step inside its ``Scan``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import ExportError
from ..kinds import ConvSNU, LeakyIntegrator, snu
from ..kinds.graph import Graph, Nodes, value
from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME, state_names
from ..readouts import Readout
from .network import Network
from .step import decay, declare_states, layer_weights
from .unrolled import scores

DOMAIN = "ai.snudeploy"
DOMAIN_VERSION = 1
IR_VERSION = 10


def _cell(nodes: Nodes, variant: dict) -> snu.Cell:
    """The function body's :class:`~snudeploy.kinds.snu.Cell`: ``decay`` comes from the node's attribute."""
    decay = nodes("Constant", [])
    nodes.nodes[-1].attribute.append(
        helper.make_attribute_ref("value_float", onnx.AttributeProto.FLOAT, ref_attr_name="decay"))
    return snu.Cell(variant["g"], variant["activation"], variant["recurrent"], variant["lateral_inhibition"], decay,
                    nodes("Constant", [], value_float=1.0), "threshold", "recurrent_kernel")


def _inputs(variant: dict) -> list[str]:
    return ["x", "y_prev", "s_prev", "kernel", "threshold"] + (["recurrent_kernel"] if variant["recurrent"] else [])


def cell_function(spec, variant: dict, opset: int) -> onnx.FunctionProto:
    """``<Cell>(x, y_prev, s_prev, kernel, threshold[, recurrent_kernel]) -> (y, s)`` for ``spec``'s op."""
    nodes = Nodes(opset=opset)
    cell = _cell(nodes, variant)
    projection = spec.onnx_project(nodes, "x", {"kernel": "kernel"}, None, refs=True)
    snu.step(nodes, cell, projection, "y_prev", "s_prev", opset, "y", "s")
    return helper.make_function(DOMAIN, spec.ONNX_CELL, _inputs(variant), ["y", "s"], nodes.nodes,
                                [helper.make_opsetid("", opset)], attributes=list(spec.ONNX_ATTRIBUTES))


def layer_function(spec, variant: dict, opset: int) -> onnx.FunctionProto:
    """``<Layer>(x[B,T,...], y0, s0, kernel, threshold[, recurrent_kernel]) -> (Y[B,T,...], y_T, s_T)``.

    The input projection of all T steps is computed before the ``Scan`` (hoisted: one MatMul,
    or one convolution over the B*T frames), so the scanned body is the cell's elementwise step.
    """
    nodes = Nodes(opset=opset)
    cell = _cell(nodes, variant)
    if isinstance(spec, ConvSNU):
        rank = 5
        shape = nodes("Shape", ["x"])
        frames = nodes("Reshape", ["x", nodes("Concat", [nodes.constant([-1], np.int64), _dims(nodes, shape, 2, 5)],
                                              axis=0)])
        projected = spec.onnx_project(nodes, frames, {"kernel": "kernel"}, None, refs=True)  # [B*T, H', W', F]
        projection = nodes("Reshape", [projected, nodes("Concat", [_dims(nodes, shape, 0, 2),
                                                                   _dims(nodes, nodes("Shape", [projected]), 1, 4)],
                                                        axis=0)])
    else:
        rank = 3
        projection = nodes("MatMul", ["x", "kernel"])
    time_major = nodes("Transpose", [projection], perm=[1, 0, *range(2, rank)])  # Scan walks axis 0
    body = Nodes("body_", opset)
    snu.step(body, cell, "p_t", "y_prev_t", "s_prev_t", opset, "y_t", "s_t")
    body("Identity", ["y_t"], ["y_seq_t"])
    untyped = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)  # noqa: E731
    scan_body = helper.make_graph(body.nodes, "snu_scan_body",
                                  [untyped("y_prev_t"), untyped("s_prev_t"), untyped("p_t")],
                                  [untyped("y_t"), untyped("s_t"), untyped("y_seq_t")])
    y_time_major = nodes("Scan", ["y_prev", "s_prev", time_major], ["y_last", "s_last", "y_seq_time_major"],
                         body=scan_body, num_scan_inputs=1)[2]
    nodes("Transpose", [y_time_major], ["y_seq"], perm=[1, 0, *range(2, rank)])
    return helper.make_function(DOMAIN, spec.ONNX_LAYER, _inputs(variant), ["y_seq", "y_last", "s_last"],
                                nodes.nodes, [helper.make_opsetid("", opset)], attributes=list(spec.ONNX_ATTRIBUTES))


def _dims(nodes: Nodes, shape: str, start: int, end: int) -> str:
    """``shape[start:end]`` of a ``Shape`` output."""
    return nodes("Slice", [shape, nodes.constant([start], np.int64), nodes.constant([end], np.int64)])


def variants(network: Network) -> dict[type, tuple]:
    """``{kind class: (a spec of it, the variant its layers share)}``: the function bodies' shapes."""
    found: dict[type, dict] = {}
    for _, layer in network.stateful():
        spec = layer.spec
        if not isinstance(spec, snu.SNUKind):
            continue
        variant = {"g": spec.g, "activation": spec.activation, "recurrent": bool(getattr(spec, "recurrent", False)),
                   "lateral_inhibition": bool(getattr(spec, "lateral_inhibition", False))}
        found.setdefault(type(spec), {})[tuple(variant.items())] = (spec, variant)
    chosen = {}
    for kind, options in found.items():
        if len(options) != 1:
            raise ExportError(f"The customop format needs every {kind.kind} layer to share g, activation, recurrent "
                              f"and lateral inhibition; this model mixes {sorted(dict(o).__repr__() for o in options)}.")
        chosen[kind] = next(iter(options.values()))
    return chosen


def integrator(main: Graph, i: int, layer, x: str, sequence: bool, inputs: list, outputs: list) -> str:
    """A leaky-integrator layer as plain nodes: one step, or (``sequence``) ``x W + b`` for every step at
    once and a ``Scan`` over time of ``v = p_t + decay * v_prev``; returns its output."""
    w = layer_weights(main, i, layer)
    (v_in, v_out), = declare_states(i, layer, inputs, outputs)
    projection = layer.spec.onnx_project(main, x, w)
    if not sequence:
        return layer.spec.onnx_recur(main, projection, v_in, decay(main, i, layer), v_out)
    body = Nodes("body_", main.opset)
    layer.spec.onnx_recur(body, "p_t", "v_prev_t", decay(main, i, layer), "v_t")
    body("Identity", ["v_t"], ["v_seq_t"])
    untyped = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)  # noqa: E731
    scan_body = helper.make_graph(body.nodes, f"l{i}_integrator_body", [untyped("v_prev_t"), untyped("p_t")],
                                  [untyped("v_t"), untyped("v_seq_t")])
    time_major = main("Transpose", [projection], perm=[1, 0, 2])
    values = main("Scan", [v_in, time_major], [v_out, f"l{i}_v_seq_time_major"], body=scan_body, num_scan_inputs=1)[1]
    return main("Transpose", [values], perm=[1, 0, 2])


def build(network: Network, graph: str, opset: int = 17, timesteps: int | None = None,
          readout: Readout = Readout()) -> onnx.ModelProto:
    """A ``customop`` model: ``graph="step"`` uses ``*Cell`` nodes, ``"sequence"`` ``*Layer`` nodes."""
    chosen = variants(network)
    sequence = graph == "sequence"
    time_dim = [timesteps or "time"] if sequence else []
    main = Graph(opset)
    inputs = [value(INPUT_NAME, ["batch", *time_dim, *network.input_shape])]
    outputs = []
    current = INPUT_NAME
    for i, layer in enumerate(network.layers):
        spec = layer.spec
        if not spec.stateful:
            current = spec.onnx_apply(main, current, layer.input_shape, sequence=sequence)
            continue
        if isinstance(spec, LeakyIntegrator):
            current = integrator(main, i, layer, current, sequence, inputs, outputs)
            continue
        (_, y_in, y_out), (_, s_in, s_out) = state_names(i)
        inputs += [value(y_in, ["batch", *layer.output_shape]), value(s_in, ["batch", *layer.output_shape])]
        weights = layer_weights(main, i, layer)
        weights = [weights[k] for k in ("kernel", "threshold", "recurrent_kernel") if k in weights]
        sequence_out = [f"l{i}_y_seq"] if sequence else []
        main(spec.ONNX_LAYER if sequence else spec.ONNX_CELL, [current, y_in, s_in, *weights],
             sequence_out + [y_out, s_out], domain=DOMAIN, name=f"snu_{i}", **spec.onnx_attributes(layer.input_shape))
        outputs += [value(y_out, ["batch", *layer.output_shape]), value(s_out, ["batch", *layer.output_shape])]
        current = sequence_out[0] if sequence else y_out
    main("Identity", [current], [SPIKES_NAME])
    outputs.append(value(SPIKES_NAME, ["batch", *time_dim, *network.output_shape]))
    if sequence:
        main("Identity", [scores(main, current, readout, opset)], [RATES_NAME])
        outputs.append(value(RATES_NAME, ["batch", *network.output_shape]))
    make = layer_function if sequence else cell_function
    functions = [make(spec, variant, opset) for spec, variant in chosen.values()]
    return helper.make_model(
        helper.make_graph(main.nodes, f"snudeploy_customop_{graph}", inputs, outputs, main.initializers),
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, DOMAIN_VERSION)],
        functions=functions, producer_name="snudeploy", ir_version=IR_VERSION)


def build_format(ctx) -> dict:
    """The ``customop`` format's graphs: ``{"sequence": ..., "step": ...}``."""
    return {"sequence": build(ctx.network, "sequence", opset=ctx.opset, readout=ctx.readout),
            "step": build(ctx.network, "step", opset=ctx.opset)}
