"""Stream a whole encoded test set through a session: the loop behind ``snudeploy run``.

Also the two checks every consumer of a model's test data needs (``run``, ``bench
accuracy``): that the data fits the model, and encoding it as the model's training
encoded its test split (the metadata's encoding, test seed = seed + 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..encoding import encode_rate
from ..errors import ConfigurationError, InputShapeError
from ..metadata import ModelInfo
from ..spec import Encoding
from .session import StreamingSession


def check_data(info: ModelInfo, x: np.ndarray, y: np.ndarray, model: str, dataset: str) -> None:
    """Raise when ``dataset``'s samples ``x`` or labels ``y`` do not fit ``model``."""
    width = int(np.prod(x.shape[1:]))
    if width != info.features:
        raise InputShapeError(f"{model} expects {info.features} input features, but {dataset} samples have "
                              f"{width} (shape {list(x.shape[1:])}).")
    if len(y) and int(y.max()) >= info.classes:
        raise ConfigurationError(f"{dataset} has labels up to {int(y.max())}, but {model} has only "
                                 f"{info.classes} output classes.")


def rate_encoding(info: ModelInfo, model: str = "the model") -> Encoding:
    """The rate encoding the model was trained with, from its metadata."""
    enc = info.encoding
    if not {"timesteps", "max_spikes"} <= enc.keys():
        raise ConfigurationError(f"{model} has no rate encoding (timesteps, max_spikes) in its metadata, "
                                 "so its inputs cannot be encoded as in training.")
    return Encoding(timesteps=int(enc["timesteps"]), max_spikes=float(enc["max_spikes"]), seed=int(enc.get("seed", 0)))


def encode_test_split(info: ModelInfo, x: np.ndarray, model: str = "the model") -> np.ndarray:
    """``x`` rate-encoded as the model's training encoded its test split: uint8 [N, T, F]."""
    encoding = rate_encoding(info, model)
    return encode_rate(x, encoding.timesteps, encoding.max_spikes, encoding.split_seed("test"))


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
        return len(self.counts) * self.timesteps / self.seconds


def evaluate(session: StreamingSession, spikes: np.ndarray, streams: int = 32, sequence: bool = False,
             on_progress=None) -> Evaluation:
    """Run ``spikes`` [N, T, F] ``streams`` samples at a time: one stream each, stepped T times
    (or, with ``sequence``, as whole sequences); ``on_progress(n)`` after every group."""
    samples, timesteps = spikes.shape[:2]
    counts = np.zeros((samples, session.classes), np.float64)
    start = time.perf_counter()
    for begin in range(0, samples, streams):
        group = spikes[begin:begin + streams]
        if sequence:
            counts[begin:begin + len(group)] = session.run(group) * timesteps
        else:
            ids = session.open(len(group))
            for t in range(timesteps):
                session.step(group[:, t], ids)
            counts[begin:begin + len(group)] = session.spike_counts(ids)
            session.close(ids)
        if on_progress:
            on_progress(len(group))
    return Evaluation(counts, timesteps, time.perf_counter() - start)
