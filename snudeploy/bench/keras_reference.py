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
from ..spec import ModelSpec
from .spikes import SpikeTally

CHUNK = 250  # samples per call


class KerasReference:
    """A loaded SNU checkpoint that tallies its spikes on encoded data."""

    def __init__(self, checkpoint):
        self.spec = ModelSpec.load(checkpoint)
        model = load_checkpoint(checkpoint)
        # A functional graph over the loaded layers: a freshly loaded Sequential has no symbolic outputs.
        inputs = tf.keras.Input(shape=(None, self.spec.input_features))
        h, sequences, self.recurrent = inputs, [], []
        for layer in model.layers:
            h = layer(h)
            if hasattr(getattr(layer, "cell", None), "threshold"):
                sequences.append(h)
                self.recurrent.append(bool(layer.cell.recurrent))
        self._probe = tf.keras.Model(inputs, sequences + [h])

    def tally(self, spikes: np.ndarray, labels: np.ndarray) -> tuple[SpikeTally, np.ndarray]:
        """(the tally of ``spikes [N, T, F]``, the Keras model's predictions ``[N]``)."""
        tally = SpikeTally(self.spec.units, self.recurrent, self.spec.input_features)
        predictions = []
        for start in range(0, len(spikes), CHUNK):
            x = spikes[start:start + CHUNK]
            *sequences, rates = self._probe(tf.cast(x, tf.float32), training=False)
            tally.add(x, {i: s.numpy() for i, s in enumerate(sequences)}, labels[start:start + CHUNK])
            predictions.append(rates.numpy().argmax(axis=1))
        return tally, np.concatenate(predictions)
