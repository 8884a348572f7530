"""The SNU cell that the dense and convolutional kinds share: fields, equations, ONNX nodes.

One time step of one layer, with ``P`` the layer's input projection (``x W`` for dense
layers, the convolution for conv layers), in TensorFlow's order of operations (so exports
match the Keras cell)::

    reset   = 1 - y_prev                      (lateral inhibition: 1 - max_j y_prev)
    pre     = P + (decay * s_prev) * reset    [+ y_prev H]
    s       = g(pre)
    y       = s > b  (Heaviside; ``s - b > 0`` in TF, the same in IEEE floats) | sigmoid(s - b)

The threshold ``b`` has one value per unit (dense) or per filter (conv: it broadcasts over
positions, the last axis being channels). ``P`` is passed in, so that sequence graphs can
compute it for all time steps in one product ("hoisted") and steps only do elementwise work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from onnx import TensorProto

from .. import activation_table, arguments
from .base import LayerSpec, set_fields
from .graph import Nodes, reduce

CELLS = {"snu": "step", "ssnu": "sigmoid"}  # cell name -> its output activation h


@dataclass(frozen=True)
class Cell:
    """What one layer's step needs: its settings and the names of its constants and weights."""
    g: str
    activation: str
    recurrent: bool
    lateral_inhibition: bool
    decay: str             # scalar float
    one: str               # scalar 1.0
    threshold: str         # [U] or [filters]
    recurrent_kernel: str | None = None


@dataclass(frozen=True, kw_only=True)
class SNUKind(LayerSpec):
    """Fields every SNU kind has: ``decay``, ``g`` (state nonlinearity) and ``activation`` (h)."""
    decay: float = 0.9
    g: str = "leaky_relu"
    activation: str = "step"

    STATES: ClassVar[tuple[str, ...]] = ("y", "s")
    INT8: ClassVar[str] = ("integer product on whole-number inputs (MatMulInteger / ConvInteger, int8 weights, "
                           "one float scale); membrane update and threshold float")

    def __post_init__(self):
        set_fields(self, decay=arguments.number(self.decay, "decay", 0, 1),
                   g=activation_table.state_function_name(self.g),
                   activation=activation_table.output_activation_name(self.activation))

    @property
    def spiking(self) -> bool:
        """Outputs are exactly 0 or 1 (the Heaviside SNU, not the soft sSNU)."""
        return activation_table.get(self.activation).binary

    @property
    def cell(self) -> str:
        return next(name for name, h in CELLS.items() if h == self.activation)

    def keras_cell_arguments(self) -> dict:
        return {"decay": self.decay, "g": self.g, "activation": self.activation}

    def cell_names(self, w: dict[str, str], decay: str, one: str) -> Cell:
        """The :class:`Cell` of this layer given the names of its weights ``w`` and constants."""
        return Cell(self.g, self.activation, bool(getattr(self, "recurrent", False)),
                    bool(getattr(self, "lateral_inhibition", False)), decay, one, w["threshold"],
                    w.get("recurrent_kernel"))


def step(nodes: Nodes, cell: Cell, projection: str, y_prev: str, s_prev: str, opset: int,
         y_out: str | None = None, s_out: str | None = None) -> tuple[str, str]:
    """Emit one step; return the names of (y, s). ``y_out``/``s_out`` name them (graph outputs)."""
    fired = reduce(nodes, "ReduceMax", y_prev, -1, opset, keepdims=1) if cell.lateral_inhibition else y_prev
    reset = nodes("Sub", [cell.one, fired])
    pre = nodes("Add", [projection, nodes("Mul", [nodes("Mul", [cell.decay, s_prev]), reset])])
    if cell.recurrent:
        pre = nodes("Add", [pre, nodes("MatMul", [y_prev, cell.recurrent_kernel])])
    s = state_function(nodes, cell.g, pre, s_out)
    y = output(nodes, cell.activation, s, cell.threshold, y_out)
    return y, s


def state_function(nodes: Nodes, name: str, x: str, out: str | None = None) -> str:
    """State nonlinearity ``g`` from the activation table (identity emits nothing unless ``out`` is named)."""
    act = activation_table.get(name)
    if act.onnx_op == "Identity" and out is None:
        return x
    return nodes(act.onnx_op, [x], [out] if out else None, **act.onnx_attributes)


def output(nodes: Nodes, name: str, s: str, threshold: str, out: str | None = None) -> str:
    """Output activation ``h(s - b)``: Heaviside as ``Cast(Greater(s, b))``, sigmoid as ``Sigmoid(s - b)``."""
    act = activation_table.get(name)
    if act.onnx_op == "Heaviside":
        return nodes("Cast", [nodes("Greater", [s, threshold])], [out] if out else None, to=TensorProto.FLOAT)
    return nodes(act.onnx_op, [nodes("Sub", [s, threshold])], [out] if out else None, **act.onnx_attributes)


def float32(weights: dict) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(v, np.float32) for k, v in weights.items() if v is not None}
