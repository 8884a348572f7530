"""What every layer kind declares: its fields, shapes, states, Keras layer and ONNX nodes.

A network is an ordered list of layers; each layer is an instance of a kind, a frozen
dataclass of the kind's fields (checked on construction). The class declares, in one place,
everything snudeploy does with a layer of that kind:

* **shapes**: :meth:`LayerSpec.output_shape` of one time step (no batch or time axis) from
  the input's, and the state tensors it carries from step to step (:attr:`STATES`, each of
  the output's shape);
* **Keras**: :meth:`keras_layer` builds it (the Keras modules are passed in, so this package
  stays TensorFlow-free) and :meth:`from_keras` recognises it in a user's model;
* **ONNX**: :meth:`onnx_weights` (the weights in ONNX layout) and the nodes of one step on
  a batch of frames ``[N, *input_shape]`` (:meth:`onnx_apply` for stateless kinds;
  :meth:`onnx_project` + the SNU cell for stateful ones), used by every format;
* **int8**: :attr:`INT8`, how an int8 graph treats the layer (the quantizer works on the
  graph; this is what it does to this kind, for reports and docs);
* **NIR**: how the layer maps to NIR nodes (:mod:`snudeploy.converters.nir_export`).

``to_dict`` / :func:`snudeploy.kinds.parse` are the JSON form stored in checkpoint specs
and ONNX metadata: ``{"kind": name, field: value, ...}``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .. import arguments
from ..errors import ConfigurationError

Shape = tuple[int, ...]


class LayerSpec:
    """Base of the layer kinds (each a frozen dataclass)."""

    kind: ClassVar[str]
    STATES: ClassVar[tuple[str, ...]] = ()      # state tensors carried between steps, e.g. ("y", "s")
    INPUT_RANK: ClassVar[int | None] = None     # rank of the per-step input it takes (None: any)
    INT8: ClassVar[str] = "float (no weights)"
    TRAINING_ONLY: ClassVar[bool] = False       # absent from exported graphs (dropout)
    KEEPS_WHOLE_NUMBERS: ClassVar[bool] = True  # whole-number inputs give whole-number outputs (int8)

    @property
    def stateful(self) -> bool:
        return bool(self.STATES)

    def check_input(self, input_shape: Shape) -> Shape:
        """``input_shape`` if this kind takes it; :class:`ConfigurationError` otherwise."""
        input_shape = tuple(int(d) for d in input_shape)
        if self.INPUT_RANK is not None and len(input_shape) != self.INPUT_RANK:
            wanted = {1: "a vector [F] (add a flatten layer before it)", 3: "an image [H, W, C]"}[self.INPUT_RANK]
            raise ConfigurationError(f"A {self.kind} layer takes {wanted} per time step, got shape "
                                     f"{list(input_shape)}.")
        return input_shape

    def output_shape(self, input_shape: Shape) -> Shape:
        """The layer's output per time step for ``input_shape`` (both without batch and time axes)."""
        return self.check_input(input_shape)

    def weight_count(self, input_shape: Shape) -> int:
        return 0

    def to_dict(self) -> dict:
        return tagged_dict(self)

    def replace(self, **changes) -> "LayerSpec":
        return dataclasses.replace(self, **changes)

    # -- Keras ---------------------------------------------------------------------------

    def keras_layer(self, keras, layers, name: str, input_shape: Shape):
        """The Keras layer over sequences ``[B, T, *input_shape]`` (``keras``: ``tf.keras``;
        ``layers``: :mod:`snudeploy.layers`)."""
        raise NotImplementedError

    @classmethod
    def from_keras(cls, layer) -> "LayerSpec | None":
        """This kind's spec for Keras ``layer`` of a user's model, or None if it is not of this kind."""
        return None

    def read_weights(self, layer) -> dict[str, np.ndarray]:
        """The trained weights of Keras ``layer`` (Keras layout, float32)."""
        return {}

    # -- ONNX ----------------------------------------------------------------------------

    def onnx_weights(self, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``weights`` (Keras layout) in the layout the ONNX nodes use."""
        return weights

    def onnx_apply(self, nodes, x: str, input_shape: Shape, sequence: bool) -> str:
        """A stateless layer on ``x`` ``[B, *input_shape]`` (``sequence``: ``[B, T, *input_shape]``)."""
        raise NotImplementedError


def tagged_dict(record) -> dict:
    """The JSON form of a registry entry (a layer kind, an encoder): ``{"kind": ..., field: value, ...}``."""
    data = {"kind": record.kind}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        data[f.name] = list(value) if isinstance(value, tuple) else value
    return data


# -- field checks shared by the kinds ---------------------------------------------------

def pair(value, name: str, minimum: int = 1, maximum: int = 1 << 12) -> tuple[int, int]:
    """An int or a pair of ints (kernel sizes, strides, pool sizes) as a pair."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return tuple(arguments.integer(v, name, minimum, maximum) for v in value)
    if isinstance(value, (list, tuple)):
        raise ConfigurationError(f"Received an invalid value for argument `{name}`, expected an integer or a "
                                 f"pair of integers, got {value!r}.")
    size = arguments.integer(value, name, minimum, maximum)
    return size, size


def flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"Received an invalid value for argument `{name}`, expected true or false, "
                                 f"got {value!r}.")
    return value


def set_fields(spec, **values) -> None:
    """Set checked field values on a frozen dataclass (in ``__post_init__``)."""
    for name, value in values.items():
        object.__setattr__(spec, name, value)
