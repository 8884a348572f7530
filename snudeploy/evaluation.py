"""A model's test data: the dataset it names, checked against it, encoded as its training encoded it.

``snudeploy run``, ``bench accuracy``, the quickstart and the reference-model tests all
evaluate a model on "its" test split: the dataset its metadata names (or one given), the
encoding its metadata records, test seed = seed + 1 (:meth:`snudeploy.encoding.Encoder.encode`).
Sequences also keep their raw values and lengths, so that they can be streamed through
``StreamingSession.feed`` for their own length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import arguments, datasets
from .errors import ConfigurationError, DatasetError, InputShapeError
from .metadata import ModelInfo


@dataclass(frozen=True)
class TestSplit:
    """Encoded test input ``[N, T, F]`` (uint8 spikes or float32 values; sequences padded with zeros past
    their lengths), labels ``[N]``, the dataset's name, and for sequences their raw values ``[N, T, F_raw]``
    and ``lengths`` (None: all T long)."""
    spikes: np.ndarray
    labels: np.ndarray
    dataset: str
    raw: np.ndarray | None = None
    lengths: np.ndarray | None = None

    @property
    def steps(self) -> np.ndarray:
        """Each sample's length ``[N]``."""
        return np.full(len(self.labels), self.spikes.shape[1]) if self.lengths is None else self.lengths


def check_fits(features: int, classes: int, x: np.ndarray, y: np.ndarray, model: str, dataset: str) -> None:
    """Raise when ``dataset``'s samples ``x`` or labels ``y`` do not fit a model of ``features`` -> ``classes``."""
    width = int(np.prod(x.shape[1:]))
    if width != features:
        raise InputShapeError(f"{model} expects {features} input features, but {dataset} samples have "
                              f"{width} (shape {list(x.shape[1:])}).")
    if len(y) and int(y.max()) >= classes:
        raise ConfigurationError(f"{dataset} has labels up to {int(y.max())}, but {model} has only "
                                 f"{classes} output classes.")


def test_split(info: ModelInfo, dataset: str | None = None, data=None, limit: int | None = None,
               model: str = "the model") -> TestSplit:
    """The first ``limit`` test samples of ``dataset`` (default: the model's), encoded for the model."""
    name = dataset or info.dataset
    if not name and data is None:
        raise ConfigurationError(f"{model} does not name its dataset in its metadata; pass --dataset or --data.")
    encoding = info.encoding
    if encoding is None:
        raise ConfigurationError(f"{model} has no encoding in its metadata, so its inputs cannot be "
                                 "encoded as in training.")
    limit = arguments.optional_integer(limit, "limit", 1, arguments.LIMITS["samples"])
    split = datasets.load_data(name, data, sequences=encoding.SEQUENCES)
    name = name or Path(data).name
    if split.sequences != encoding.SEQUENCES:
        raise ConfigurationError(f"{model} takes {'sequences' if encoding.SEQUENCES else 'images'} (its "
                                 f"{encoding.kind} encoding); {name} holds {'sequences' if split.sequences else 'images'}.")
    x, y = split.x_test[:limit], split.y_test[:limit]
    if not len(x):
        raise DatasetError(f"{name} has no test samples.")
    if not encoding.SEQUENCES:
        check_fits(info.features, info.classes, x, y, model, name)
        return TestSplit(encoding.encode(x, "test"), y, name)
    lengths = None if split.lengths_test is None else split.lengths_test[:limit]
    if encoding.raw_features not in (None, x.shape[2]) or encoding.channels(x.shape[2]) != info.features:
        raise InputShapeError(f"{model} takes {encoding.raw_features or info.features} values per step, but {name} "
                              f"sequences have {x.shape[2]}.")
    check_fits(info.classes, info.classes, np.zeros((len(y), info.classes)), y, model, name)
    return TestSplit(encoding.encode(x, "test", lengths), y, name, x, lengths)


test_split.__test__ = False  # not a pytest test, despite the name
TestSplit.__test__ = False
