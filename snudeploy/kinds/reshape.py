"""``flatten`` and ``dropout``: layers that move or drop values and hold no weights.

``flatten`` turns a step's ``[H, W, C]`` into ``[H*W*C]`` in Keras' (C) order: ONNX
``Reshape``; Keras ``Reshape((-1, H*W*C))`` over [B, T, H, W, C] (a user's
``TimeDistributed(Flatten())`` is recognised too); NIR ``Flatten``. ``dropout`` acts in
training only (Keras ``Dropout``) and is left out of exported graphs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import arguments
from .base import LayerSpec, set_fields


@dataclass(frozen=True, kw_only=True)
class Flatten(LayerSpec):
    """Flatten each step's values into a vector."""
    kind: ClassVar[str] = "flatten"
    INT8: ClassVar[str] = "moves values only (whole numbers stay whole)"

    def output_shape(self, input_shape):
        return (math.prod(self.check_input(input_shape)),)

    def keras_layer(self, keras, layers, name: str, input_shape):
        return keras.layers.Reshape((-1, math.prod(input_shape)), name=name)

    @classmethod
    def from_keras(cls, layer):
        name = type(layer).__name__
        if name == "Reshape" and len(layer.target_shape) == 2 and layer.target_shape[0] == -1:
            return cls()
        inner = getattr(layer, "layer", None) if name == "TimeDistributed" else None
        return cls() if type(inner).__name__ == "Flatten" else None

    def onnx_apply(self, nodes, x: str, input_shape, sequence: bool) -> str:
        lead = [0, 0] if sequence else [0]
        return nodes("Reshape", [x, nodes.constant([*lead, -1], np.int64)])


@dataclass(frozen=True, kw_only=True)
class Dropout(LayerSpec):
    """Dropout of ``rate`` in training; nothing at inference."""
    rate: float = 0.5

    kind: ClassVar[str] = "dropout"
    TRAINING_ONLY: ClassVar[bool] = True
    INT8: ClassVar[str] = "absent from exported graphs"

    def __post_init__(self):
        set_fields(self, rate=arguments.number(self.rate, "rate", 0, 1, ))

    def keras_layer(self, keras, layers, name: str, input_shape):
        return keras.layers.Dropout(self.rate, name=name)

    @classmethod
    def from_keras(cls, layer):
        inner = getattr(layer, "layer", None) if type(layer).__name__ == "TimeDistributed" else layer
        return cls(rate=float(inner.rate)) if type(inner).__name__ == "Dropout" else None

    def onnx_apply(self, nodes, x: str, input_shape, sequence: bool) -> str:
        return x
