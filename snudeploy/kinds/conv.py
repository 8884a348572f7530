"""``snu_conv2d``: a convolutional layer of SNUs, one per position and filter.

Per step, channels last as in Keras: ``x_t`` [H, W, C] -> ``P_t = conv(x_t, W)`` [H', W', F],
then the SNU cell of :mod:`.snu` at every position (state ``y``, ``s`` [H', W', F], threshold
one per filter). ``padding="same"`` pads as TensorFlow does (the extra row/column at the end);
``"valid"`` does not pad. No recurrence and no lateral inhibition. Keras:
:class:`snudeploy.layers.SNUConv2D`; ONNX: ``Transpose`` to channels first, ``Conv``,
``Transpose`` back (ONNX Runtime removes transposes it can), then the cell; NIR: ``Conv2d`` + ``LIF``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from onnx import AttributeProto, helper

from .. import arguments
from ..errors import ConfigurationError
from .base import pair, set_fields
from .snu import SNUKind, float32

PADDINGS = ("same", "valid")


@dataclass(frozen=True, kw_only=True)
class ConvSNU(SNUKind):
    """A 2-D convolutional SNU layer of ``filters`` filters."""
    filters: int
    kernel_size: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 1)
    padding: str = "same"

    kind: ClassVar[str] = "snu_conv2d"
    INPUT_RANK: ClassVar[int] = 3
    ONNX_CELL: ClassVar[str] = "SNUConv2DCell"
    ONNX_ATTRIBUTES: ClassVar[tuple[str, ...]] = ("decay", "g", "activation", "strides", "pads")
    ONNX_LAYER: ClassVar[str] = "SNUConv2DLayer"

    def __post_init__(self):
        super().__post_init__()
        set_fields(self, filters=arguments.limited(self.filters, "filters", "units"),
                   kernel_size=pair(self.kernel_size, "kernel_size"), strides=pair(self.strides, "strides"),
                   padding=arguments.choice(self.padding, "padding", PADDINGS))

    def output_shape(self, input_shape):
        height, width, _ = self.check_input(input_shape)
        sizes = []
        for size, kernel, stride in zip((height, width), self.kernel_size, self.strides):
            out = math.ceil(size / stride) if self.padding == "same" else (size - kernel) // stride + 1
            if out < 1:
                raise ConfigurationError(f"A {kernel}-wide kernel with 'valid' padding does not fit an input "
                                         f"{size} wide (shape {list(input_shape)}).")
            sizes.append(out)
        return (*sizes, self.filters)

    def weight_count(self, input_shape) -> int:
        channels = self.check_input(input_shape)[2]
        return self.kernel_size[0] * self.kernel_size[1] * channels * self.filters + self.filters

    def pads(self, input_shape) -> list[int]:
        """ONNX ``pads`` [top, left, bottom, right] for ``input_shape``, as TensorFlow pads."""
        if self.padding == "valid":
            return [0, 0, 0, 0]
        out = self.output_shape(input_shape)
        totals = [max((o - 1) * s + k - i, 0)
                  for o, s, k, i in zip(out[:2], self.strides, self.kernel_size, input_shape[:2])]
        return [totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2]

    def keras_layer(self, keras, layers, name: str, input_shape):
        return layers.SNUConv2D(self.filters, self.kernel_size, strides=self.strides, padding=self.padding,
                                return_sequences=True, name=name, **self.keras_cell_arguments())

    @classmethod
    def from_keras(cls, layer):
        if type(layer).__name__ != "SNUConv2D":
            return None
        return cls(filters=layer.filters, kernel_size=layer.kernel_size, strides=layer.strides, padding=layer.padding,
                   decay=layer.decay, g=layer.g_name, activation=layer.activation_name)

    def read_weights(self, layer) -> dict[str, np.ndarray]:
        return float32({"kernel": layer.kernel.numpy(), "threshold": layer.threshold.numpy()})

    def onnx_weights(self, weights):
        """The kernel from Keras' [kh, kw, C, F] to ONNX's [F, C, kh, kw]."""
        return {**weights, "kernel": np.ascontiguousarray(np.transpose(weights["kernel"], (3, 2, 0, 1)))}

    def onnx_project(self, nodes, x: str, w: dict[str, str], input_shape, refs: bool = False) -> str:
        """``conv(x, W)`` on frames ``[N, H, W, C]`` -> ``[N, H', W', F]``.

        ``refs``: take ``strides`` and ``pads`` from the enclosing function's attributes (a
        customop function body, shared by layers of different strides) instead of this layer's.
        """
        channels_first = nodes("Transpose", [x], perm=[0, 3, 1, 2])
        if refs:
            conv = nodes("Conv", [channels_first, w["kernel"]])
            nodes.nodes[-1].attribute.extend(
                helper.make_attribute_ref(name, AttributeProto.INTS, ref_attr_name=name) for name in ("strides", "pads"))
        else:
            conv = nodes("Conv", [channels_first, w["kernel"]], strides=list(self.strides), pads=self.pads(input_shape))
        return nodes("Transpose", [conv], perm=[0, 2, 3, 1])

    def onnx_attributes(self, input_shape) -> dict:
        """The attributes of this layer's ``ai.snudeploy`` node (customop)."""
        return {"decay": float(self.decay), "g": self.g, "activation": self.activation,
                "strides": list(self.strides), "pads": self.pads(input_shape)}
