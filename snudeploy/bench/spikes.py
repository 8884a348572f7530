"""Spike statistics of a test run: spikes per layer, synaptic operations, the anytime curve.

An SNU only does work for a synapse when a spike arrives, so its cost on event-driven
hardware is counted in synaptic operations::

    SynOps = sum_i (spikes into layer i) x U_i  [+ (spikes of layer i) x U_i if recurrent]

(the spikes into layer 0 are the encoded input spikes, into layer i > 0 the spikes of layer
i-1), against the multiply-accumulates a dense implementation needs for the same network::

    MACs = T x sum_i F_i x U_i  [+ T x U_i^2 if recurrent]

The anytime curve is the accuracy of ``argmax`` of the running output spike count after
t = 1..T steps (a membrane readout: of the running membrane value or its maximum): how
early a stream could stop, and at what accuracy. Ties, including "no output spike yet", go
to the lower class, as in ``StreamingSession.predict``. Sequences of different lengths
count each sample's own steps: past its length a sample adds no spikes and keeps its last
prediction, as a stream fed for its own length does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def synops(input_spikes: float, layer_spikes: Sequence[float | None], units: Sequence[int],
           recurrent: Sequence[bool]) -> float | None:
    """Synaptic operations per sample; None when a needed layer's spike count is unknown."""
    arriving = [input_spikes] + list(layer_spikes[:-1])
    total = 0.0
    for spikes_in, own, width, loops in zip(arriving, layer_spikes, units, recurrent):
        if spikes_in is None or (loops and own is None):
            return None
        total += spikes_in * width + (own * width if loops else 0.0)
    return total


def dense_macs(features: int, units: Sequence[int], recurrent: Sequence[bool], timesteps: int) -> float:
    """Multiply-accumulates per sample of the dense network over ``timesteps`` steps."""
    fan_in = [features] + list(units[:-1])
    return float(timesteps * sum(f * u + (u * u if loops else 0) for f, u, loops in zip(fan_in, units, recurrent)))


class SpikeTally:
    """Accumulates, chunk by chunk, what :meth:`figures` reports for one model on one dataset.

    Args:
        units: values per layer and step (neurons of a spiking layer), output layer last.
        recurrent: whether each layer is recurrent.
        features: F, input features.
        dense: every layer is a dense layer (SynOps and MACs are counted for such networks only).
        readout: how the output becomes a prediction (:class:`snudeploy.readouts.Readout`; default the mean rate).
    """

    def __init__(self, units: Sequence[int], recurrent: Sequence[bool], features: int, dense: bool = True,
                 readout=None):
        from ..readouts import Readout

        self.units, self.recurrent, self.features, self.dense = list(units), list(recurrent), features, dense
        self.readout = readout or Readout()
        self._layer_totals = np.zeros(len(units))
        self._seen = np.ones(len(units), bool)
        self._input_total = 0
        self._correct = None
        self._predictions = []
        self._timesteps = None

    def add(self, x: np.ndarray, layers: dict, labels: np.ndarray, lengths: np.ndarray | None = None) -> None:
        """Count one chunk.

        Args:
            x: the input spikes ``[B, T, F]``.
            layers: layer index -> its outputs at every step ``[B, T, U_i]``; must hold the
                output layer, may lack others (then their counts are reported unknown).
            labels: ``[B]`` integer labels.
            lengths: each sample's length ``[B]`` (None: T).
        """
        last = len(self.units) - 1
        steps = np.asarray(x).shape[1]
        valid = np.ones((len(labels), steps), bool) if lengths is None else \
            np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
        x = np.asarray(x)  # real-valued input (direct encoding): every non-zero value is an event
        self._input_total += int(x.sum(dtype=np.int64) if x.dtype.kind in "biu" else np.count_nonzero(x))
        for i in range(len(self.units)):
            if i in layers and (i < last or self.readout.spiking):  # a membrane output layer does not spike
                outputs = np.asarray(layers[i]).reshape(*valid.shape, -1)
                self._layer_totals[i] += float(np.sum(outputs * valid[..., None], dtype=np.float64))
            else:
                self._seen[i] = False
        outputs = np.asarray(layers[last], np.float32)
        if lengths is not None:  # past its length a sample keeps its last output (spikes: adds none)
            held = np.minimum(np.arange(steps)[None, :], np.asarray(lengths)[:, None] - 1)
            outputs = np.take_along_axis(outputs, held[..., None], axis=1)
            if self.readout.spiking:
                outputs = outputs * valid[..., None]
        running = self.readout.running(outputs)                            # [B, T, C]
        predicted = running.argmax(axis=2)                                 # [B, T]
        correct = (predicted == np.asarray(labels)[:, None]).sum(axis=0)
        self._correct = correct if self._correct is None else self._correct + correct
        self._predictions.append(predicted[:, -1])
        self._timesteps = running.shape[1]

    @property
    def predictions(self) -> np.ndarray:
        """Each sample's prediction after all T steps (argmax of the mean output rate)."""
        return np.concatenate(self._predictions) if self._predictions else np.zeros(0, np.int64)

    def figures(self) -> dict:
        """accuracy, anytime_accuracy, spikes and synaptic operations per sample (see ``schema.ACCURACY``)."""
        n = len(self.predictions)
        if n == 0:
            raise ValueError("No samples were counted.")
        per_layer = [float(t) / n if seen else None for t, seen in zip(self._layer_totals, self._seen)]
        input_spikes = self._input_total / n
        ops = synops(input_spikes, per_layer, self.units, self.recurrent) if self.dense else None
        macs = dense_macs(self.features, self.units, self.recurrent, self._timesteps) if self.dense else None
        anytime = [float(c) / n for c in self._correct]
        return {"samples": n, "timesteps": self._timesteps, "accuracy": anytime[-1], "anytime_accuracy": anytime,
                "input_spikes_per_sample": round(input_spikes, 3),
                "spikes_per_sample": [None if s is None else round(s, 3) for s in per_layer],
                "synops_per_sample": None if ops is None else round(ops, 1), "dense_macs_per_sample": macs,
                "synops_per_mac": None if ops is None or not macs else round(ops / macs, 5)}


def tally_for(info, features: int | None = None) -> SpikeTally:
    """The :class:`SpikeTally` of a model described by metadata ``info`` (``snudeploy.metadata.ModelInfo``)."""
    return SpikeTally(info.units, [layer.recurrent for layer in info.layers], features or info.features,
                      dense=all(layer.kind in ("snu", "lstm", "leaky_integrator") for layer in info.layers),
                      readout=info.readout)
