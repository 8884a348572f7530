import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))               # snu_reference.py (the numpy oracle), checkpoints.py
sys.path.insert(0, str(HERE / "runtime"))   # snu_models.py (TensorFlow-free model builder)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from snudeploy.extras import installed  # noqa: E402

HAS_TF = installed("tensorflow")


def pytest_collection_modifyitems(config, items):
    if HAS_TF:
        return
    skip = pytest.mark.skip(reason="needs the [train] extra (TensorFlow)")
    for item in items:
        if "train" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def random_digits_checkpoint(tmp_path_factory):
    """A digits-sized SNU checkpoint (64-32-16-10) with random spiking weights: no training."""
    pytest.importorskip("tensorflow")
    from checkpoints import random_checkpoint

    return random_checkpoint(tmp_path_factory.mktemp("random") / "checkpoint")


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory):
    """The digits network trained with its default recipe (~97 % test accuracy, ~30 s): slow tests only."""
    pytest.importorskip("tensorflow")
    from snudeploy import datasets
    from snudeploy.spec import ModelSpec
    from snudeploy.training import dataset_defaults, train_checkpoint

    encoding, recipe = dataset_defaults("digits")
    spec = ModelSpec.dense(64, 10, dataset="digits", encoding=encoding, recipe=recipe)
    folder = tmp_path_factory.mktemp("digits") / "checkpoint"
    train_checkpoint(spec, datasets.load("digits"), folder, verbose=0)
    return folder
