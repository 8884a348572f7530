"""``snu``: a dense layer of Spiking Neural Units (the seed network's layer).

Per step: ``s_t = g(x_t W [+ y_{t-1} H] + decay s_{t-1} (1 - y_{t-1}))``, ``y_t = h(s_t - b)``
(:mod:`.snu`), with ``W`` [F, units], optional recurrent ``H`` [units, units], threshold ``b``
[units]; lateral inhibition resets by the layer's most active unit (per sample). Keras:
:func:`snudeploy.layers.SNU`; ONNX: ``MatMul`` + the cell (``SNUCell``/``SNULayer`` in
``customop`` graphs); NIR: ``Affine`` (+ ``Linear`` for H) + ``LIF``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import arguments
from .base import flag, set_fields
from .snu import SNUKind, float32


@dataclass(frozen=True, kw_only=True)
class DenseSNU(SNUKind):
    """A dense SNU layer of ``units`` units."""
    units: int
    recurrent: bool = False
    lateral_inhibition: bool = False

    kind: ClassVar[str] = "snu"
    INPUT_RANK: ClassVar[int] = 1
    ONNX_CELL: ClassVar[str] = "SNUCell"
    ONNX_ATTRIBUTES: ClassVar[tuple[str, ...]] = ("decay", "g", "activation", "recurrent", "lateral_inhibition")
    ONNX_LAYER: ClassVar[str] = "SNULayer"

    def __post_init__(self):
        super().__post_init__()
        set_fields(self, units=arguments.limited(self.units, "units", "units"),
                   recurrent=flag(self.recurrent, "recurrent"),
                   lateral_inhibition=flag(self.lateral_inhibition, "lateral_inhibition"))

    def output_shape(self, input_shape):
        self.check_input(input_shape)
        return (self.units,)

    def weight_count(self, input_shape) -> int:
        features = self.check_input(input_shape)[0]
        return features * self.units + self.units + (self.units ** 2 if self.recurrent else 0)

    def keras_layer(self, keras, layers, name: str, input_shape):
        return layers.SNU(self.units, recurrent=self.recurrent, lateral_inhibition=self.lateral_inhibition,
                          return_sequences=True, name=name, **self.keras_cell_arguments())

    @classmethod
    def from_keras(cls, layer):
        cell = getattr(layer, "cell", None)
        if type(cell).__name__ != "SNUCell":
            return None
        return cls(units=cell.units, decay=cell.decay, g=cell.g_name, activation=cell.activation_name,
                   recurrent=cell.recurrent, lateral_inhibition=cell.lateral_inhibition)

    def read_weights(self, layer) -> dict[str, np.ndarray]:
        cell = layer.cell
        return float32({"kernel": cell.kernel.numpy(), "threshold": cell.threshold.numpy(),
                        "recurrent_kernel": None if cell.recurrent_kernel is None else cell.recurrent_kernel.numpy()})

    def onnx_project(self, nodes, x: str, w: dict[str, str], input_shape, refs: bool = False) -> str:
        """``x W`` on ``[N, F]`` or ``[N, T, F]`` (all steps at once: hoisted)."""
        return nodes("MatMul", [x, w["kernel"]])

    def onnx_attributes(self, input_shape) -> dict:
        """The attributes of this layer's ``ai.snudeploy`` node (customop)."""
        return {"decay": float(self.decay), "g": self.g, "activation": self.activation,
                "recurrent": int(self.recurrent), "lateral_inhibition": int(self.lateral_inhibition)}
