"""The ``unrolled`` format: a whole sequence of fixed length T, time loop unrolled, projections hoisted.

Inputs ``x`` [B, T, F] and every layer's initial ``l{i}_y``, ``l{i}_s``; outputs ``rates``
[B, C] (mean output rate), ``spikes`` [B, T, C] and the final states. Layer by layer, the
input projection ``x W`` of all T steps is one MatMul (one GEMM instead of T GEMVs), split
along time; the T steps then do elementwise work only (plus ``y H`` for recurrent layers),
and their spikes are concatenated into the next layer's input. The fastest sequence graph
for fixed-length input; T is fixed when the graph is built.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME
from . import snu_graph
from .snu_graph import Nodes, value
from .step import constant, layer_cells, snudeploy_model, state_values


def build_unrolled(layers, opset: int, timesteps: int) -> onnx.ModelProto:
    """The unrolled sequence graph of ``layers`` for sequences of ``timesteps`` steps."""
    nodes, initializers = Nodes(), []
    cells = layer_cells(layers, initializers)
    inputs, outputs = [value(INPUT_NAME, ["batch", timesteps, layers[0].features])], []
    time_axis = constant(initializers, "time_axis", [1], np.int64)
    one_per_step = constant(initializers, "one_per_step", [1] * timesteps, np.int64)
    current = INPUT_NAME
    for i, (p, cell) in enumerate(zip(layers, cells)):
        y_in, s_in, y_out, s_out = state_values(i, p.units, inputs, outputs)
        projections = nodes("Split", [nodes("MatMul", [current, f"l{i}_kernel"]), one_per_step], axis=1,
                            outputs=[f"l{i}_p{t}" for t in range(timesteps)])
        projections = [projections] if timesteps == 1 else projections
        y, s = nodes("Unsqueeze", [y_in, time_axis]), nodes("Unsqueeze", [s_in, time_axis])
        spikes = []
        for projection in projections:  # [B, 1, U] each
            y, s = snu_graph.step(nodes, cell, projection, y, s, opset)
            spikes.append(y)
        current = nodes("Concat", spikes, axis=1) if timesteps > 1 else spikes[0]
        nodes("Squeeze", [y, time_axis], [y_out])
        nodes("Squeeze", [s, time_axis], [s_out])
    classes = layers[-1].units
    nodes("Identity", [current], [SPIKES_NAME])
    nodes("Identity", [snu_graph.reduce(nodes, "ReduceMean", current, 1, opset, keepdims=0)], [RATES_NAME])
    outputs += [value(SPIKES_NAME, ["batch", timesteps, classes]), value(RATES_NAME, ["batch", classes])]
    return snudeploy_model(nodes.nodes, "snudeploy_unrolled", inputs, outputs, initializers, opset)


def build(ctx) -> dict:
    """The format's graphs from an :class:`~snudeploy.converters.exporter.BuildContext`."""
    return {"sequence": build_unrolled(ctx.layers, ctx.opset, ctx.timesteps)}
