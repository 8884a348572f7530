"""Streaming a whole encoded test set through a session: the loop behind ``snudeploy run``."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import arguments
from .session import StreamingSession


@dataclass(frozen=True)
class Evaluation:
    """Output spike counts of every sample and what the run cost."""
    counts: np.ndarray       # [N, C] output spikes per class over the sequence
    timesteps: int
    seconds: float

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.counts.argmax(axis=1) == labels))

    @property
    def mean_output_spikes(self) -> float:
        return float(self.counts.sum(axis=1).mean())

    @property
    def steps_per_second(self) -> float:
        """Sample-steps per second: one stream advanced one time step."""
        return len(self.counts) * self.timesteps / self.seconds if self.seconds > 0 else float("inf")


def evaluate(session: StreamingSession, spikes: np.ndarray, streams: int = 32, sequence: bool = False,
             on_progress=None) -> Evaluation:
    """Run ``spikes`` [N, T, *input] ``streams`` samples at a time: one stream each, stepped T times
    (or, with ``sequence``, as whole sequences); ``on_progress(n)`` after every group."""
    streams = arguments.limited(streams, "streams", "batch")
    samples, timesteps = spikes.shape[:2]
    counts = np.zeros((samples, session.classes), np.float64)
    start = time.perf_counter()
    for begin in range(0, samples, streams):
        group = spikes[begin:begin + streams]
        group = group.reshape(*group.shape[:2], *session.input_shape)  # [S, T, F] flattened steps are fine too
        if sequence:
            counts[begin:begin + len(group)] = session.run(group) * timesteps
        else:
            ids = session.open(len(group))
            try:
                for t in range(timesteps):
                    session.step(group[:, t], ids)
                counts[begin:begin + len(group)] = session.spike_counts(ids)
            finally:
                session.close(ids)
        if on_progress:
            on_progress(len(group))
    return Evaluation(counts, timesteps, time.perf_counter() - start)
