"""The ``step`` format: one time step with explicit state, for streaming.

Inputs ``x`` [B, F] and every layer's ``l{i}_y``, ``l{i}_s`` [B, U_i]; outputs ``spikes``
[B, C] (the output layer's ``y``) and ``l{i}_y_next``, ``l{i}_s_next``. The batch is
dynamic. Built from the checkpoint's weights with plain ONNX operators, 8 nodes per layer
for the seed network (MatMul, reset, decay, decayed state, add, g, Greater + Cast), in the
Keras cell's order of operations; validated against TensorFlow like every export.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..metadata import INPUT_NAME, SPIKES_NAME, state_names
from . import snu_graph
from .snu_graph import Cell, Nodes, value

IR_VERSION = 8


def constant(initializers: list, name: str, value, dtype=np.float32) -> str:
    """Add ``value`` as initializer ``name`` (constants as initializers: node counts show real work)."""
    initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
    return name


def layer_cells(layers, initializers: list) -> list[Cell]:
    """The :class:`Cell` of every layer, adding its weights and constants to ``initializers``."""
    cells, one = [], constant(initializers, "one", 1.0)
    for i, p in enumerate(layers):
        constant(initializers, f"l{i}_kernel", p.kernel)
        constant(initializers, f"l{i}_threshold", p.threshold)
        if p.recurrent:
            constant(initializers, f"l{i}_recurrent_kernel", p.recurrent_kernel)
        cells.append(Cell(p.g, p.activation, p.recurrent, p.lateral_inhibition,
                          constant(initializers, f"l{i}_decay", p.decay), one, f"l{i}_threshold",
                          f"l{i}_recurrent_kernel" if p.recurrent else None))
    return cells


def build_step(layers, opset: int) -> onnx.ModelProto:
    """The step graph of ``layers`` (:class:`~snudeploy.converters.network.SNULayerParams`)."""
    nodes, initializers = Nodes(), []
    cells = layer_cells(layers, initializers)
    inputs, outputs = [value(INPUT_NAME, ["batch", layers[0].features])], []
    current = INPUT_NAME
    for i, (p, cell) in enumerate(zip(layers, cells)):
        y_in, s_in, y_out, s_out = state_values(i, p.units, inputs, outputs)
        projection = nodes("MatMul", [current, f"l{i}_kernel"])
        current, _ = snu_graph.step(nodes, cell, projection, y_in, s_in, opset, y_out, s_out)
    nodes("Identity", [current], [SPIKES_NAME])
    outputs.append(value(SPIKES_NAME, ["batch", layers[-1].units]))
    return snudeploy_model(nodes.nodes, "snudeploy_step", inputs, outputs, initializers, opset)


def state_values(i: int, units: int, inputs: list, outputs: list) -> tuple[str, str, str, str]:
    """Declare layer ``i``'s state inputs and outputs ([batch, units]); return ``(y_in, s_in, y_out, s_out)``."""
    (_, y_in, y_out), (_, s_in, s_out) = state_names(i)
    inputs += [value(y_in, ["batch", units]), value(s_in, ["batch", units])]
    outputs += [value(y_out, ["batch", units]), value(s_out, ["batch", units])]
    return y_in, s_in, y_out, s_out


def snudeploy_model(nodes: list, name: str, inputs: list, outputs: list, initializers: list,
                    opset: int) -> onnx.ModelProto:
    """The ONNX model of a built graph, as every snudeploy builder emits it."""
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION,
                             producer_name="snudeploy")


def build(ctx) -> dict:
    """The format's graphs from an :class:`~snudeploy.converters.exporter.BuildContext`."""
    return {"step": build_step(ctx.layers, ctx.opset)}
