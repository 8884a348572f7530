"""The ``unrolled`` format: a whole sequence of fixed length T, time loop unrolled, projections hoisted.

Inputs ``x`` [B, T, *input shape] and every stateful layer's initial ``l{i}_y``, ``l{i}_s``;
outputs ``rates`` [B, C] (mean output rate), ``spikes`` [B, T, C] and the final states. Layer
by layer, the input projection of all T steps is one product (``x W`` as one GEMM instead of T
GEMVs; a convolution over the B*T frames at once), split along time; the T steps then do
elementwise work only (plus ``y H`` for recurrent layers), and their spikes are concatenated
into the next layer's input. Stateless layers (pooling, flatten) act on the whole sequence.
The fastest sequence graph for fixed-length input; T is fixed when the graph is built.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..kinds import LeakyIntegrator, snu
from ..kinds.graph import Graph, reduce, value
from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME
from ..readouts import Readout
from .network import Network
from .step import cell, decay, declare_states, layer_weights, snudeploy_model, state_values


def scores(nodes, outputs: str, readout: Readout, opset: int) -> str:
    """The readout's scores of whole-sequence ``outputs`` [B, T, C] (the ``rates`` output): the mean over
    time (mean rate, spike count: the same argmax), the last step or the maximum (membrane)."""
    if readout.kind != "membrane":
        return reduce(nodes, "ReduceMean", outputs, 1, opset, keepdims=0)
    if readout.reduce == "max":
        return reduce(nodes, "ReduceMax", outputs, 1, opset, keepdims=0)
    last = nodes("Gather", [outputs, nodes.constant(-1, np.int64)], axis=1)
    return last


def build_unrolled(network: Network, opset: int, timesteps: int, readout: Readout = Readout()) -> onnx.ModelProto:
    """The unrolled sequence graph of ``network`` for sequences of ``timesteps`` steps."""
    graph = Graph(opset)
    inputs, outputs = [value(INPUT_NAME, ["batch", timesteps, *network.input_shape])], []
    time_axis = graph.constant([1], np.int64)
    current = INPUT_NAME
    for i, layer in enumerate(network.layers):
        if not layer.spec.stateful:
            current = layer.spec.onnx_apply(graph, current, layer.input_shape, sequence=True)
            continue
        w = layer_weights(graph, i, layer)
        steps = graph("Split", [_project_all(graph, layer, current, w, timesteps),
                                graph.constant([1] * timesteps, np.int64)],
                      axis=1, outputs=[f"l{i}_p{t}" for t in range(timesteps)])
        steps = [steps] if timesteps == 1 else steps  # each [B, 1, *shape]
        if isinstance(layer.spec, LeakyIntegrator):
            (v_in, v_out), = declare_states(i, layer, inputs, outputs)
            v, values = graph("Unsqueeze", [v_in, time_axis]), []
            for projection in steps:
                v = layer.spec.onnx_recur(graph, projection, v, decay(graph, i, layer))
                values.append(v)
            current = graph("Concat", values, axis=1) if timesteps > 1 else values[0]
            graph("Squeeze", [v, time_axis], [v_out])
            continue
        y_in, s_in, y_out, s_out = state_values(i, layer.output_shape, inputs, outputs)
        y, s = graph("Unsqueeze", [y_in, time_axis]), graph("Unsqueeze", [s_in, time_axis])
        layer_cell, spikes = cell(graph, i, layer, w), []
        for projection in steps:
            y, s = snu.step(graph, layer_cell, projection, y, s, opset)
            spikes.append(y)
        current = graph("Concat", spikes, axis=1) if timesteps > 1 else spikes[0]
        graph("Squeeze", [y, time_axis], [y_out])
        graph("Squeeze", [s, time_axis], [s_out])
    graph("Identity", [current], [SPIKES_NAME])
    graph("Identity", [scores(graph, current, readout, opset)], [RATES_NAME])
    outputs += [value(SPIKES_NAME, ["batch", timesteps, *network.output_shape]),
                value(RATES_NAME, ["batch", *network.output_shape])]
    return snudeploy_model(graph.nodes, "snudeploy_unrolled", inputs, outputs, graph.initializers, opset)


def _project_all(graph: Graph, layer, x: str, w: dict, timesteps: int) -> str:
    """The layer's input projection of every step of ``x`` [B, T, *in] at once -> [B, T, *out]."""
    if len(layer.input_shape) == 1:  # MatMul broadcasts over [B, T]
        return layer.spec.onnx_project(graph, x, w, layer.input_shape)
    frames = graph("Reshape", [x, graph.constant([-1, *layer.input_shape], np.int64)])  # [B*T, *in]
    projected = layer.spec.onnx_project(graph, frames, w, layer.input_shape)
    return graph("Reshape", [projected, graph.constant([-1, timesteps, *layer.output_shape], np.int64)])


def build(ctx) -> dict:
    """The format's graphs from an :class:`~snudeploy.converters.exporter.BuildContext`."""
    return {"sequence": build_unrolled(ctx.network, ctx.opset, ctx.timesteps, ctx.readout)}
