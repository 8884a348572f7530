"""The ``step`` format: one time step with explicit state, for streaming.

Inputs ``x`` [B, *input shape] and every stateful layer's ``l{i}_y``, ``l{i}_s`` [B, *shape];
outputs ``spikes`` [B, C] (the output layer's ``y``) and ``l{i}_y_next``, ``l{i}_s_next``.
The batch is dynamic. Built from the network's weights with plain ONNX operators, layer by
layer through the kinds registry (:mod:`snudeploy.kinds`): a dense SNU layer is 8 nodes
(MatMul, reset, decay, decayed state, add, g, Greater + Cast), in the Keras cell's order of
operations; validated against TensorFlow like every export.
"""

from __future__ import annotations

import onnx
from onnx import helper

from ..kinds import LeakyIntegrator, snu
from ..kinds.graph import Graph, value
from ..metadata import INPUT_NAME, SPIKES_NAME, state_names
from .network import Network, NetworkLayer

IR_VERSION = 8


def layer_weights(graph: Graph, i: int, layer: NetworkLayer) -> dict[str, str]:
    """Add layer ``i``'s weights (ONNX layout) as initializers ``l{i}_<name>``; return their names."""
    return {name: graph.weight(f"l{i}_{name}", array) for name, array in layer.onnx_weights.items()}


def cell(graph: Graph, i: int, layer: NetworkLayer, w: dict[str, str]) -> snu.Cell:
    """Layer ``i``'s SNU cell with its decay and the shared constant 1 in ``graph``."""
    return layer.spec.cell_names(w, decay(graph, i, layer), graph.constant(1.0))


def build_step(network: Network, opset: int) -> onnx.ModelProto:
    """The step graph of ``network``."""
    graph = Graph(opset)
    inputs, outputs = [value(INPUT_NAME, ["batch", *network.input_shape])], []
    current = INPUT_NAME
    for i, layer in enumerate(network.layers):
        if not layer.spec.stateful:
            current = layer.spec.onnx_apply(graph, current, layer.input_shape, sequence=False)
            continue
        w = layer_weights(graph, i, layer)
        projection = layer.spec.onnx_project(graph, current, w, layer.input_shape)
        if isinstance(layer.spec, LeakyIntegrator):
            (v_in, v_out), = declare_states(i, layer, inputs, outputs)
            current = layer.spec.onnx_recur(graph, projection, v_in, decay(graph, i, layer), v_out)
            continue
        y_in, s_in, y_out, s_out = state_values(i, layer.output_shape, inputs, outputs)
        current, _ = snu.step(graph, cell(graph, i, layer, w), projection, y_in, s_in, opset, y_out, s_out)
    graph("Identity", [current], [SPIKES_NAME])
    outputs.append(value(SPIKES_NAME, ["batch", *network.output_shape]))
    return snudeploy_model(graph.nodes, "snudeploy_step", inputs, outputs, graph.initializers, opset)


def decay(graph: Graph, i: int, layer: NetworkLayer) -> str:
    """Layer ``i``'s decay as initializer ``l{i}_decay``."""
    return graph.weight(f"l{i}_decay", layer.spec.decay)


def declare_states(i: int, layer: NetworkLayer, inputs: list, outputs: list) -> list[tuple[str, str]]:
    """Declare every state of layer ``i`` ([batch, *output shape]); return ``[(input name, output name)]``."""
    pairs = []
    for _, name_in, name_out in state_names(i, layer.spec.STATES):
        inputs.append(value(name_in, ["batch", *layer.output_shape]))
        outputs.append(value(name_out, ["batch", *layer.output_shape]))
        pairs.append((name_in, name_out))
    return pairs


def state_values(i: int, shape, inputs: list, outputs: list) -> tuple[str, str, str, str]:
    """Declare layer ``i``'s state inputs and outputs ([batch, *shape]); return ``(y_in, s_in, y_out, s_out)``."""
    (_, y_in, y_out), (_, s_in, s_out) = state_names(i)
    inputs += [value(y_in, ["batch", *shape]), value(s_in, ["batch", *shape])]
    outputs += [value(y_out, ["batch", *shape]), value(s_out, ["batch", *shape])]
    return y_in, s_in, y_out, s_out


def snudeploy_model(nodes: list, name: str, inputs: list, outputs: list, initializers: list,
                    opset: int) -> onnx.ModelProto:
    """The ONNX model of a built graph, as every snudeploy builder emits it."""
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION,
                             producer_name="snudeploy")


def build(ctx) -> dict:
    """The format's graphs from an :class:`~snudeploy.converters.exporter.BuildContext`."""
    return {"step": build_step(ctx.network, ctx.opset)}
