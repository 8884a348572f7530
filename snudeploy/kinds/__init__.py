"""The layer kinds a network is made of: one registry, one module per family.

* :mod:`.dense` - ``snu``: dense SNU layer (the seed network's);
* :mod:`.conv` - ``snu_conv2d``: convolutional SNU layer;
* :mod:`.pooling` - ``avg_pool2d``, ``sum_pool2d``;
* :mod:`.reshape` - ``flatten``, ``dropout``;
* :mod:`.integrator` - ``leaky_integrator``: the non-spiking output layer of the membrane readout.

Adding a kind is one class (in its family's module, or a new one) plus one entry in
:data:`KINDS`; specs, metadata, Keras models, every ONNX format and the CLI's network files
pick it up (see :mod:`.base` for what a kind declares). This package is TensorFlow-free.
"""

from __future__ import annotations

import dataclasses

from ..errors import ConfigurationError
from .base import LayerSpec, Shape
from .conv import ConvSNU
from .dense import DenseSNU
from .integrator import LeakyIntegrator
from .pooling import AvgPool2D, SumPool2D
from .reshape import Dropout, Flatten
from .snu import CELLS, SNUKind

KINDS: dict[str, type[LayerSpec]] = {k.kind: k for k in (DenseSNU, ConvSNU, AvgPool2D, SumPool2D, Flatten, Dropout,
                                                                  LeakyIntegrator)}

__all__ = ["KINDS", "LayerSpec", "DenseSNU", "ConvSNU", "AvgPool2D", "SumPool2D", "Flatten", "Dropout", "LeakyIntegrator",
           "SNUKind",
           "CELLS", "Shape", "parse", "shapes", "from_keras"]


def parse(entry) -> LayerSpec:
    """A layer from its JSON form ``{"kind": ..., field: value, ...}``; errors name the field."""
    if isinstance(entry, LayerSpec):
        return entry
    if not isinstance(entry, dict):
        raise ConfigurationError(f"A layer must be an object with a `kind`, got {entry!r}.")
    name = entry.get("kind")
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ConfigurationError(f"Unknown layer kind {name!r}; known kinds: {', '.join(KINDS)}.")
    fields = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(entry) - fields - {"kind"})
    if unknown:
        raise ConfigurationError(f"A {name} layer has no field(s) {', '.join(unknown)}; its fields: "
                                 f"{', '.join(sorted(fields))}.")
    try:
        return kind(**{k: v for k, v in entry.items() if k != "kind"})
    except TypeError as e:  # a required field is missing
        raise ConfigurationError(f"A {name} layer is incomplete: {e}.") from None


def shapes(layers, input_shape: Shape) -> list[Shape]:
    """The output shape of every layer for ``input_shape`` (checks that each layer takes its input)."""
    out, current = [], tuple(input_shape)
    for i, layer in enumerate(layers):
        try:
            current = layer.output_shape(current)
        except ConfigurationError as e:
            raise ConfigurationError(f"Layer {i} ({layer.kind}): {e}") from None
        out.append(current)
    return out


def from_keras(layer) -> LayerSpec | None:
    """The spec of Keras ``layer`` (of a user's model) by the first kind that recognises it, or None."""
    for kind in KINDS.values():
        spec = kind.from_keras(layer)
        if spec is not None:
            return spec
    return None
