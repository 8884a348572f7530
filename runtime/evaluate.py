"""Streaming a whole test set through a session: the loop behind ``snudeploy run`` and ``bench accuracy``.

Encoded inputs ``[N, T, F]`` are stepped (:meth:`StreamingSession.step`) or run as whole
sequences; raw sequences ``[N, T, F_raw]`` are fed (:meth:`StreamingSession.feed`, the
encoder running per stream), each for its own length. Predictions and scores follow the
model's readout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import arguments
from .session import StreamingSession


@dataclass(frozen=True)
class Evaluation:
    """What a run predicted and what it cost.

    Attributes:
        scores: the readout's scores of every sample ``[N, C]``.
        predictions: their argmax ``[N]`` (the session's :meth:`~StreamingSession.predict`).
        output_spikes: output spikes of every sample ``[N]`` (None for a membrane readout).
        sample_steps: time steps run, over all samples.
        seconds: wall time.
        running: predictions after every step ``[N, T]`` (a sample past its length keeps its
            last), when recorded.
    """
    scores: np.ndarray
    predictions: np.ndarray
    output_spikes: np.ndarray | None
    sample_steps: int
    seconds: float
    running: np.ndarray | None = None

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.predictions == labels))

    def anytime(self, labels: np.ndarray) -> list[float]:
        """Accuracy after k = 1..T steps (needs ``running``)."""
        return [float(v) for v in np.mean(self.running == np.asarray(labels)[:, None], axis=0)]

    @property
    def mean_output_spikes(self) -> float | None:
        return None if self.output_spikes is None else float(self.output_spikes.mean())

    @property
    def steps_per_second(self) -> float:
        """Sample-steps per second: one stream advanced one time step."""
        return self.sample_steps / self.seconds if self.seconds > 0 else float("inf")


def evaluate(session: StreamingSession, spikes: np.ndarray, streams: int = 32, sequence: bool = False,
             on_progress=None, lengths: np.ndarray | None = None) -> Evaluation:
    """Run encoded ``spikes`` [N, T, *input] (or steps flattened, [N, T, F]) ``streams`` samples at a time: one stream each, stepped for each
    sample's length (``lengths``, default T), or with ``sequence`` as whole sequences (of one length per
    call); ``on_progress(n)`` after every group."""
    streams = arguments.limited(streams, "streams", "batch")
    samples, timesteps = spikes.shape[:2]
    lengths = np.full(samples, timesteps) if lengths is None else np.asarray(lengths)
    scores = np.zeros((samples, session.classes), np.float32)
    counts = np.zeros((samples, session.classes), np.float64)
    start = time.perf_counter()
    if sequence:
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            for begin in range(0, len(rows), streams):
                group = rows[begin:begin + streams]
                scores[group] = session.run(spikes[group, :length])
                if on_progress:
                    on_progress(len(group))
        seconds = time.perf_counter() - start
        spiking = session.info.readout.spiking
        return Evaluation(scores, scores.argmax(axis=1), (scores * lengths[:, None]).sum(axis=1) if spiking else None,
                          int(lengths.sum()), seconds)
    predictions = np.zeros(samples, np.int64)
    for begin in range(0, samples, streams):
        group = slice(begin, begin + streams)
        ids = session.open(len(lengths[group]))
        try:
            for t in range(int(lengths[group].max())):
                active = [i for i, n in zip(ids, lengths[group]) if n > t]
                rows = np.flatnonzero(lengths[group] > t) + begin
                session.step(spikes[rows, t].reshape(len(rows), *session.input_shape), active)
            _collect(session, ids, group, scores, predictions, counts)
        finally:
            session.close(ids)
        if on_progress:
            on_progress(len(ids))
    return _result(session, scores, predictions, counts, lengths, time.perf_counter() - start)


def feed_sequences(session: StreamingSession, raw: np.ndarray, lengths: np.ndarray | None = None, streams: int = 32,
                   on_progress=None, record: bool = False) -> Evaluation:
    """Feed raw sequences ``[N, T, F_raw]`` ``streams`` at a time, each stream for its sample's length,
    through :meth:`StreamingSession.feed`; ``record``: keep every step's predictions (the anytime curve)."""
    streams = arguments.limited(streams, "streams", "batch")
    samples, timesteps = raw.shape[:2]
    lengths = np.full(samples, timesteps) if lengths is None else np.asarray(lengths)
    scores = np.zeros((samples, session.classes), np.float32)
    counts = np.zeros((samples, session.classes), np.float64)
    predictions = np.zeros(samples, np.int64)
    running = np.zeros((samples, timesteps), np.int64) if record else None
    start = time.perf_counter()
    for begin in range(0, samples, streams):
        group = slice(begin, min(begin + streams, samples))
        ids = session.open(group.stop - group.start)
        try:
            for t in range(int(lengths[group].max())):
                live = lengths[group] > t
                session.feed(raw[np.flatnonzero(live) + begin, t], [i for i, on in zip(ids, live) if on])
                if record:
                    running[group, t] = session.predict(ids)
            _collect(session, ids, group, scores, predictions, counts)
            if record:  # a sample past its length keeps its last prediction
                for row, n in zip(range(group.start, group.stop), lengths[group]):
                    running[row, n:] = running[row, n - 1]
        finally:
            session.close(ids)
        if on_progress:
            on_progress(group.stop - group.start)
    return _result(session, scores, predictions, counts, lengths, time.perf_counter() - start, running)


def _collect(session, ids, group, scores, predictions, counts) -> None:
    scores[group] = session.rates(ids)
    predictions[group] = session.predict(ids)
    counts[group] = session.spike_counts(ids)


def _result(session, scores, predictions, counts, lengths, seconds, running=None) -> Evaluation:
    spiking = session.info.readout.spiking
    return Evaluation(scores, predictions, counts.sum(axis=1) if spiking else None, int(lengths.sum()), seconds,
                      running)
