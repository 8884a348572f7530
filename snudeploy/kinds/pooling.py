"""``avg_pool2d`` and ``sum_pool2d``: non-overlapping pooling of each channel, per time step.

Windows of ``pool_size`` with strides equal to it and no padding (Keras' ``valid``: rows and
columns that do not fill a window are dropped). Sum pooling of spikes gives whole numbers
(0 to ph*pw), so an int8 graph keeps an integer product after it; average pooling gives
fractions, so the product after it stays float. ONNX: ``Reshape`` into windows and
``ReduceSum`` (sums of spikes are exact in any order), then ``Div`` by the window size for
the average. Keras: :class:`snudeploy.layers.AvgPooling2D` / :class:`~snudeploy.layers.SumPooling2D`
(a user's ``TimeDistributed(AveragePooling2D(pool_size))`` is recognised too); NIR:
``AvgPool2d`` / ``SumPool2d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import ConfigurationError
from .base import LayerSpec, pair, set_fields
from .graph import reduce


@dataclass(frozen=True, kw_only=True)
class Pool2D(LayerSpec):
    pool_size: tuple[int, int] = (2, 2)

    INPUT_RANK: ClassVar[int] = 3
    AVERAGE: ClassVar[bool]

    def __post_init__(self):
        set_fields(self, pool_size=pair(self.pool_size, "pool_size"))

    def output_shape(self, input_shape):
        height, width, channels = self.check_input(input_shape)
        out = (height // self.pool_size[0], width // self.pool_size[1])
        if min(out) < 1:
            raise ConfigurationError(f"A {list(self.pool_size)} pool does not fit an input of shape "
                                     f"{list(input_shape)}.")
        return (*out, channels)

    def onnx_apply(self, nodes, x: str, input_shape, sequence: bool) -> str:
        (height, width, channels), (ph, pw) = input_shape, self.pool_size
        out_h, out_w, _ = self.output_shape(input_shape)
        lead = 2 if sequence else 1
        if (out_h * ph, out_w * pw) != (height, width):  # drop what does not fill a window
            x = nodes("Slice", [x, nodes.constant([0, 0], np.int64), nodes.constant([out_h * ph, out_w * pw], np.int64),
                                nodes.constant([lead, lead + 1], np.int64)])
        windows = nodes("Reshape", [x, nodes.constant([0] * lead + [out_h, ph, out_w, pw, channels], np.int64)])
        pooled = reduce(nodes, "ReduceSum", windows, [lead + 1, lead + 3], nodes.opset, keepdims=0)
        return nodes("Div", [pooled, nodes.constant(float(ph * pw))]) if self.AVERAGE else pooled

    @classmethod
    def _inner(cls, layer, class_name: str):
        """The pooling layer inside ``TimeDistributed`` (or ``layer`` itself), if it is a ``class_name``."""
        inner = getattr(layer, "layer", layer) if type(layer).__name__ == "TimeDistributed" else layer
        return inner if type(inner).__name__ == class_name else None


@dataclass(frozen=True, kw_only=True)
class AvgPool2D(Pool2D):
    """Average pooling (fractions of spikes: the next product stays float in int8 graphs)."""
    kind: ClassVar[str] = "avg_pool2d"
    AVERAGE: ClassVar[bool] = True
    KEEPS_WHOLE_NUMBERS: ClassVar[bool] = False
    INT8: ClassVar[str] = "float (its output is a fraction: the product after it stays float)"

    def keras_layer(self, keras, layers, name: str, input_shape):
        return layers.AvgPooling2D(self.pool_size, name=name)

    @classmethod
    def from_keras(cls, layer):
        if type(layer).__name__ == "AvgPooling2D":
            return cls(pool_size=layer.pool_size)
        inner = cls._inner(layer, "AveragePooling2D")
        if inner is None:
            return None
        config = inner.get_config()
        size = pair(config["pool_size"], "pool_size")
        strides = pair(config.get("strides") or size, "strides")
        if strides != size or config.get("padding", "valid") != "valid":
            raise ConfigurationError(f"{layer.name}: snudeploy exports average pooling with strides equal to the pool "
                                     f"size and 'valid' padding, got strides {list(strides)}, padding "
                                     f"{config.get('padding')!r}.")
        return cls(pool_size=size)


@dataclass(frozen=True, kw_only=True)
class SumPool2D(Pool2D):
    """Sum pooling (whole numbers of spikes: int8 graphs keep an integer product after it)."""
    kind: ClassVar[str] = "sum_pool2d"
    AVERAGE: ClassVar[bool] = False
    INT8: ClassVar[str] = "exact sums of whole numbers (the product after it stays integer)"

    def keras_layer(self, keras, layers, name: str, input_shape):
        return layers.SumPooling2D(self.pool_size, name=name)

    @classmethod
    def from_keras(cls, layer):
        inner = cls._inner(layer, "SumPooling2D")
        return None if inner is None else cls(pool_size=inner.pool_size)
