"""``leaky_integrator``: a non-spiking output layer whose membrane value is the network's output.

Per step, with state ``v`` [units] starting at zero::

    v_t = (x_t W + b) + decay * v_{t-1}

in this order of operations (Keras :class:`snudeploy.layers.LeakyIntegratorCell` and every
ONNX graph). The output at step t is ``v_t`` itself, read by the ``membrane`` readout
(:mod:`snudeploy.readouts`: the last value or the maximum over time). ONNX: ``MatMul``, ``Add``
(bias), ``Mul`` (decay) and ``Add``; sequence graphs hoist ``x W + b`` for all steps (one
product) and roll ``v`` with plain nodes (unrolled: one ``Add`` and ``Mul`` per step;
customop: a ``Scan``); state ``l{i}_v`` -> ``l{i}_v_next``. int8: the product becomes integer
when its input is spikes; the bias, decay and sums stay float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import arguments
from .base import LayerSpec, set_fields
from .graph import Nodes


@dataclass(frozen=True, kw_only=True)
class LeakyIntegrator(LayerSpec):
    """A dense leaky-integrator layer of ``units`` non-spiking units (``decay`` per step)."""
    units: int
    decay: float = 0.9

    kind: ClassVar[str] = "leaky_integrator"
    STATES: ClassVar[tuple[str, ...]] = ("v",)
    INPUT_RANK: ClassVar[int] = 1
    KEEPS_WHOLE_NUMBERS: ClassVar[bool] = False
    INT8: ClassVar[str] = "integer product on spikes (MatMulInteger, int8 weights, one float scale); bias, decay float"

    def __post_init__(self):
        set_fields(self, units=arguments.limited(self.units, "units", "units"),
                   decay=arguments.number(self.decay, "decay", 0, 1))

    @property
    def spiking(self) -> bool:
        return False

    def output_shape(self, input_shape):
        self.check_input(input_shape)
        return (self.units,)

    def weight_count(self, input_shape) -> int:
        return (self.check_input(input_shape)[0] + 1) * self.units

    def keras_layer(self, keras, layers, name: str, input_shape):
        return layers.LeakyIntegrator(self.units, decay=self.decay, return_sequences=True, name=name)

    @classmethod
    def from_keras(cls, layer):
        cell = getattr(layer, "cell", None)
        if type(cell).__name__ != "LeakyIntegratorCell":
            return None
        return cls(units=cell.units, decay=cell.decay)

    def read_weights(self, layer) -> dict[str, np.ndarray]:
        cell = layer.cell
        return {"kernel": np.ascontiguousarray(cell.kernel.numpy(), np.float32),
                "bias": np.ascontiguousarray(cell.bias.numpy(), np.float32)}

    def onnx_project(self, nodes: Nodes, x: str, w: dict[str, str], input_shape=None, refs: bool = False) -> str:
        """``x W + b`` on ``[N, F]`` or ``[N, T, F]`` (all steps at once)."""
        return nodes("Add", [nodes("MatMul", [x, w["kernel"]]), w["bias"]])

    def onnx_recur(self, nodes: Nodes, projection: str, v_prev: str, decay: str, out: str | None = None) -> str:
        """``v = projection + decay * v_prev`` (``out`` names it)."""
        return nodes("Add", [projection, nodes("Mul", [decay, v_prev])], [out] if out else None)
