"""Framework-free description of a trained SNU network: weights plus layer settings.

Graph builders take this rather than a Keras model, so a graph can be built (and tested)
without TensorFlow; :func:`from_keras` is the one place that reads a Keras model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metadata import Layer


@dataclass(frozen=True)
class SNULayerParams:
    """One SNU layer: ``s = g(x W [+ y H] + decay s r)``, ``y = h(s - threshold)``."""
    kernel: np.ndarray
    threshold: np.ndarray
    recurrent_kernel: np.ndarray | None = None
    decay: float = 0.8
    g: str = "identity"
    activation: str = "step"
    lateral_inhibition: bool = False

    @property
    def units(self) -> int:
        return int(self.kernel.shape[1])

    @property
    def features(self) -> int:
        return int(self.kernel.shape[0])

    @property
    def recurrent(self) -> bool:
        return self.recurrent_kernel is not None

    def weights(self) -> list[np.ndarray]:
        return [self.kernel, self.threshold] + ([self.recurrent_kernel] if self.recurrent else [])

    def finite(self) -> bool:
        return all(np.isfinite(w).all() for w in self.weights())

    def layer(self) -> Layer:
        """The layer's entry in the ONNX metadata."""
        return Layer(units=self.units, cell="snu", decay=float(self.decay), g=self.g, activation=self.activation,
                     recurrent=self.recurrent, lateral_inhibition=bool(self.lateral_inhibition))


def from_keras(model) -> list[SNULayerParams]:
    """The SNU layers of a Keras model built by :func:`snudeploy.checkpoint.build_model`."""
    layers = []
    for layer in model.layers:
        cell = getattr(layer, "cell", None)
        if cell is None or not hasattr(cell, "threshold"):
            continue
        layers.append(SNULayerParams(
            kernel=np.asarray(cell.kernel.numpy(), np.float32),
            threshold=np.asarray(cell.threshold.numpy(), np.float32),
            recurrent_kernel=None if cell.recurrent_kernel is None
            else np.asarray(cell.recurrent_kernel.numpy(), np.float32),
            decay=cell.decay, g=cell.g_name, activation=cell.activation_name,
            lateral_inhibition=cell.lateral_inhibition))
    return layers
