"""The Keras checkpoint on the same encoded test data, for ``bench accuracy --tf``.

A probe model returns every SNU layer's outputs at every step, so the Keras row gets the
same figures as a step graph (spikes per layer, SynOps, anytime curve) from one pass.
Predictions are the Keras model's own readout (argmax of its mean output rate).
This module imports TensorFlow; import it only when --tf is given.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..checkpoint import load_checkpoint
from ..converters.network import from_keras
from ..spec import ModelSpec
from .spikes import SpikeTally

CHUNK = 250  # samples per call


class KerasReference:
    """A loaded SNU checkpoint that tallies its spikes on encoded data."""

    def __init__(self, checkpoint):
        self.spec = ModelSpec.load(checkpoint)
        model = load_checkpoint(checkpoint)
        network = from_keras(model, self.spec.input_shape)
        # A functional graph over the loaded layers: a freshly loaded Sequential has no symbolic outputs.
        inputs = tf.keras.Input(shape=(None, *self.spec.input_shape))
        by_layer = {id(layer.keras): i for i, layer in network.stateful()}
        h, sequences, self._layers = inputs, [], []
        for layer in model.layers:
            h = layer(h)
            if id(layer) in by_layer:
                sequences.append(h)
                self._layers.append(by_layer[id(layer)])
        self._probe = tf.keras.Model(inputs, sequences + [h])
        self._metadata = network.metadata_layers()

    def tally(self, spikes: np.ndarray, labels: np.ndarray) -> tuple[SpikeTally, np.ndarray]:
        """(the tally of ``spikes [N, T, *input]``, the Keras model's predictions ``[N]``)."""
        tally = SpikeTally([layer.units for layer in self._metadata], [layer.recurrent for layer in self._metadata],
                           self.spec.input_features, dense=all(layer.kind == "snu" for layer in self._metadata))
        predictions = []
        for start in range(0, len(spikes), CHUNK):
            x = spikes[start:start + CHUNK]
            x = x.reshape(*x.shape[:2], *self.spec.input_shape)
            *sequences, rates = self._probe(tf.cast(x, tf.float32), training=False)
            tally.add(x, {i: s.numpy() for i, s in zip(self._layers, sequences)}, labels[start:start + CHUNK])
            predictions.append(rates.numpy().argmax(axis=1))
        return tally, np.concatenate(predictions)
