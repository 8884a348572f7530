"""The ONNX nodes of SNU layers, shared by the ``step``, ``unrolled`` and ``customop`` builders.

One time step of one layer, in TensorFlow's order of operations (so exports match the
Keras cell bit for bit)::

    reset   = 1 - y_prev                      (lateral inhibition: 1 - max_j y_prev)
    pre     = P + (decay * s_prev) * reset    [+ y_prev H]
    s       = g(pre)
    y       = s > b  (Heaviside; ``s - b > 0`` in TF, the same in IEEE floats) | sigmoid(s - b)

``P = x W`` is passed in, so that sequence graphs compute it for all time steps in one
MatMul ("hoisted") and steps only do elementwise work: ONNX Runtime pays a fixed cost per
node, which dominates at batch 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .. import activation_table


class Nodes:
    """A node list with unique intermediate names (``prefix`` + op + counter)."""

    def __init__(self, prefix: str = ""):
        self.prefix, self.nodes, self._count = prefix, [], 0

    def __call__(self, op, inputs, outputs=None, **attrs):
        if outputs is None:
            self._count += 1
            outputs = [f"{self.prefix}{op.lower()}_{self._count}"]
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def constant(self, value, dtype=np.float32) -> str:
        return self("Constant", [], value=numpy_helper.from_array(np.asarray(value, dtype)))


def reduce(nodes: Nodes, op: str, data: str, axis: int, opset: int, keepdims: int) -> str:
    """ReduceMax/ReduceMean over one axis; opset 18 moved ``axes`` from attribute to input."""
    if opset >= 18:
        return nodes(op, [data, nodes.constant([axis], np.int64)], keepdims=keepdims)
    return nodes(op, [data], axes=[axis], keepdims=keepdims)


@dataclass(frozen=True)
class Cell:
    """What one layer's step needs: its settings and the names of its constants and weights."""
    g: str
    activation: str
    recurrent: bool
    lateral_inhibition: bool
    decay: str             # scalar float
    one: str               # scalar 1.0
    threshold: str         # [U]
    recurrent_kernel: str | None = None


def step(nodes: Nodes, cell: Cell, projection: str, y_prev: str, s_prev: str, opset: int,
         y_out: str | None = None, s_out: str | None = None) -> tuple[str, str]:
    """Emit one step; return the names of (y, s). ``y_out``/``s_out`` name them (graph outputs)."""
    fired = reduce(nodes, "ReduceMax", y_prev, -1, opset, keepdims=1) if cell.lateral_inhibition else y_prev
    reset = nodes("Sub", [cell.one, fired])
    pre = nodes("Add", [projection, nodes("Mul", [nodes("Mul", [cell.decay, s_prev]), reset])])
    if cell.recurrent:
        pre = nodes("Add", [pre, nodes("MatMul", [y_prev, cell.recurrent_kernel])])
    s = activation(nodes, cell.g, pre, s_out)
    y = output(nodes, cell.activation, s, cell.threshold, y_out)
    return y, s


def activation(nodes: Nodes, name: str, x: str, out: str | None = None) -> str:
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


def value(name: str, dims) -> object:
    """A float32 graph input/output."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)
