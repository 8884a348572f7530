"""Framework-free description of a trained network: layer kinds with their weights and shapes.

Graph builders take a :class:`Network` rather than a Keras model, so a graph can be built
(and tested) without TensorFlow; :func:`from_keras` is the one place that reads a Keras
model, a checkpoint's or a user's own, layer by layer through the kinds registry
(:mod:`snudeploy.kinds`). Layers that act in training only (dropout) are left out, so
the layer indices of exported graphs (the ``l{i}_`` state names) count exported layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import kinds
from ..errors import ConfigurationError, ExportError
from ..kinds import DenseSNU, LayerSpec
from ..metadata import Layer, layer_of


@dataclass(frozen=True)
class NetworkLayer:
    """One exported layer: its kind and fields, weights (Keras layout), and shapes per step."""
    spec: LayerSpec
    weights: dict
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    keras: object = field(default=None, compare=False, repr=False)  # the Keras layer it came from, if any

    @property
    def onnx_weights(self) -> dict[str, np.ndarray]:
        return self.spec.onnx_weights(self.weights)

    def metadata(self) -> Layer:
        """The layer's entry in the ONNX metadata."""
        return layer_of(self.spec, self.output_shape)


@dataclass(frozen=True)
class Network:
    """The exported layers of a network, input first, output layer last."""
    input_shape: tuple[int, ...]
    layers: tuple[NetworkLayer, ...]

    @classmethod
    def build(cls, input_shape, layers: list[tuple[LayerSpec, dict]], keras_layers: list | None = None) -> "Network":
        """A network of ``[(spec, weights)]`` on inputs of ``input_shape`` (training-only layers dropped)."""
        current, built = tuple(int(d) for d in input_shape), []
        for i, (spec, weights) in enumerate(layers):
            try:
                out = spec.output_shape(current)
            except ConfigurationError as e:
                raise ConfigurationError(f"Layer {i} ({spec.kind}): {e}") from None
            if not spec.TRAINING_ONLY:
                built.append(NetworkLayer(spec, dict(weights), current, out,
                                          keras_layers[i] if keras_layers is not None else None))
            current = out
        if not built or not built[-1].spec.stateful:
            raise ExportError("The network's last exported layer must be a spiking layer (its output is the "
                              "network's output); found "
                              f"{built[-1].spec.kind if built else 'no layers'}.")
        return cls(tuple(int(d) for d in input_shape), tuple(built))

    @property
    def features(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].output_shape

    def metadata_layers(self) -> list[Layer]:
        return [layer.metadata() for layer in self.layers]

    def finite(self) -> bool:
        return all(np.isfinite(w).all() for layer in self.layers for w in layer.weights.values())

    def stateful(self) -> list[tuple[int, NetworkLayer]]:
        return [(i, layer) for i, layer in enumerate(self.layers) if layer.spec.stateful]


def dense(kernel, threshold, recurrent_kernel=None, decay: float = 0.8, g: str = "identity",
          activation: str = "step", lateral_inhibition: bool = False) -> tuple[DenseSNU, dict]:
    """A dense SNU layer from numpy weights, as ``(spec, weights)`` for :meth:`Network.build`."""
    kernel = np.asarray(kernel, np.float32)
    spec = DenseSNU(units=int(kernel.shape[1]), decay=decay, g=g, activation=activation,
                    recurrent=recurrent_kernel is not None, lateral_inhibition=lateral_inhibition)
    weights = {"kernel": kernel, "threshold": np.asarray(threshold, np.float32)}
    if recurrent_kernel is not None:
        weights["recurrent_kernel"] = np.asarray(recurrent_kernel, np.float32)
    return spec, weights


def from_keras(model, input_shape=None) -> Network:
    """The network of a Keras sequence model ``[B, T, *input] -> ...`` built from snudeploy layers.

    The readout at the end (``GlobalAveragePooling1D``, the mean output rate) is not a layer of
    the exported graphs; every other layer must be of a registered kind, or this raises an
    :class:`ExportError` naming it and listing what is supported.
    """
    shape = tuple(input_shape) if input_shape is not None else tuple(int(d) for d in model.inputs[0].shape[2:])
    layers, keras_layers = [], []
    body = [layer for layer in model.layers if type(layer).__name__ not in ("InputLayer", "Masking")]
    for position, layer in enumerate(body):
        if type(layer).__name__ in READOUTS and position == len(body) - 1:
            continue
        spec = kinds.from_keras(layer)
        if spec is None:
            raise ExportError(f"Layer {layer.name!r} ({describe(layer)}) is not supported. snudeploy exports "
                              f"{SUPPORTED}.")
        layers.append((spec, spec.read_weights(layer)))
        keras_layers.append(layer)
    if not layers:
        raise ExportError(f"The model has no layers to export; snudeploy exports {SUPPORTED}.")
    return Network.build(shape, layers, keras_layers)


READOUTS = ("GlobalAveragePooling1D", "Readout")
SUPPORTED = ("snudeploy.layers.SNU / SNUConv2D / SumPooling2D / LeakyIntegrator, TimeDistributed(AveragePooling2D), "
             "TimeDistributed(Flatten), Dropout, and GlobalAveragePooling1D (the mean rate) or snudeploy.layers.Readout "
             "as the last layer")


def describe(layer) -> str:
    name = type(layer).__name__
    inner = getattr(layer, "layer", None)
    return f"{name}({type(inner).__name__})" if name == "TimeDistributed" and inner is not None else name
