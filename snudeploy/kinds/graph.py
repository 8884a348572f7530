"""Building ONNX graphs node by node: what every layer kind's graph builder writes into.

:class:`Nodes` gives intermediate tensors unique names; :class:`Graph` adds the weights
of the layers as initializers. Constants are initializers too, so node counts show the
work a graph does.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper


class Nodes:
    """A node list with unique intermediate names (``prefix`` + op + counter)."""

    def __init__(self, prefix: str = "", opset: int = 17):
        self.prefix, self.opset, self.nodes, self._count = prefix, opset, [], 0

    def __call__(self, op, inputs, outputs=None, **attrs):
        if outputs is None:
            self._count += 1
            outputs = [f"{self.prefix}{op.lower()}_{self._count}"]
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def constant(self, value, dtype=np.float32) -> str:
        return self("Constant", [], value=numpy_helper.from_array(np.asarray(value, dtype)))


class Graph(Nodes):
    """:class:`Nodes` plus initializers: the main graph of a model being built."""

    def __init__(self, opset: int, prefix: str = ""):
        super().__init__(prefix, opset)
        self.initializers: list = []
        self._names: set[str] = set()
        self._constants: dict[tuple, str] = {}

    def weight(self, name: str, value, dtype=np.float32) -> str:
        """Add ``value`` as initializer ``name`` (once: a second call with the name returns it)."""
        if name not in self._names:
            self._names.add(name)
            self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def constant(self, value, dtype=np.float32) -> str:
        """A constant as a named initializer (shared by every node that uses the same value)."""
        array = np.asarray(value, dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            self._constants[key] = self.weight(f"{self.prefix}c{len(self._constants)}", array, dtype)
        return self._constants[key]


def reduce(nodes: Nodes, op: str, data: str, axes, opset: int, keepdims: int) -> str:
    """A Reduce* node over ``axes``; opset 18 moved ``axes`` from attribute to input (13 for ReduceSum)."""
    axes = [axes] if isinstance(axes, int) else list(axes)
    if opset >= 18 or (op == "ReduceSum" and opset >= 13):
        return nodes(op, [data, _axes_constant(nodes, axes)], keepdims=keepdims)
    return nodes(op, [data], axes=axes, keepdims=keepdims)


def _axes_constant(nodes: Nodes, axes: list[int]) -> str:
    if isinstance(nodes, Graph):
        return nodes.constant(axes, np.int64)
    return Nodes.constant(nodes, axes, np.int64)


def value(name: str, dims, elem_type=TensorProto.FLOAT):
    """A graph input/output declaration."""
    return helper.make_tensor_value_info(name, elem_type, dims)
