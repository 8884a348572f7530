"""A model's test data: the dataset it names, checked against it, encoded as its training encoded it.

``snudeploy run``, ``bench accuracy``, the quickstart and the reference-model tests all
evaluate a model on "its" test split: the dataset its metadata names (or one given), the
encoding its metadata records, test seed = seed + 1 (:meth:`snudeploy.encoding.Encoding.encode`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import arguments, datasets
from .errors import ConfigurationError, DatasetError, InputShapeError
from .metadata import ModelInfo


@dataclass(frozen=True)
class TestSplit:
    """Encoded test spikes ``[N, T, F]`` uint8, their labels ``[N]``, and the dataset's name."""
    spikes: np.ndarray
    labels: np.ndarray
    dataset: str


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
    if not name:
        raise ConfigurationError(f"{model} does not name its dataset in its metadata; pass --dataset.")
    if info.encoding is None:
        raise ConfigurationError(f"{model} has no rate encoding in its metadata, so its inputs cannot be "
                                 "encoded as in training.")
    limit = arguments.optional_integer(limit, "limit", 1, arguments.LIMITS["samples"])
    _, _, x, y = datasets.load(name, data)
    x, y = x[:limit], y[:limit]
    if not len(x):
        raise DatasetError(f"{name} has no test samples.")
    check_fits(info.features, info.classes, x, y, model, name)
    return TestSplit(info.encoding.encode(x, "test"), y, name)


test_split.__test__ = False  # not a pytest test, despite the name
TestSplit.__test__ = False
