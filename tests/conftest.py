import os
import sys
from pathlib import Path

import pytest

LEFT_OUT = pytest.StashKey[int]()
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))               # snu_reference.py (the numpy oracle), checkpoints.py
sys.path.insert(0, str(HERE / "runtime"))   # snu_models.py (TensorFlow-free model builder)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from needs import missing, need  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="run the whole suite: also the slow tests (training, servers, full-size data), as CI does")


def pytest_collection_modifyitems(config, items):
    """Without --full or -m, leave the slow tests out (the quick lane); without TensorFlow, skip `train` tests."""
    if not config.getoption("full") and not config.option.markexpr:
        slow = [item for item in items if item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config.stash[LEFT_OUT] = len(slow)
    reason = missing("train")
    if reason:
        for item in items:
            if item.get_closest_marker("train"):
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter, config):
    if config.stash.get(LEFT_OUT, 0):
        terminalreporter.write_line(f"quick lane: {config.stash[LEFT_OUT]} slow tests (training, servers, full-size "
                                    "data) left out; python -m pytest --full runs them too (docs/testing.md)")


@pytest.fixture(scope="session")
def random_digits_checkpoint(tmp_path_factory):
    """A digits-sized SNU checkpoint (64-32-16-10) with random spiking weights: no training."""
    need("train")
    from checkpoints import random_checkpoint

    return random_checkpoint(tmp_path_factory.mktemp("random") / "checkpoint")


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory):
    """The digits network trained with its default recipe (~97 % test accuracy, ~30 s): slow tests only."""
    need("train")
    from snudeploy import datasets
    from snudeploy.spec import ModelSpec
    from snudeploy.training import dataset_defaults, train_checkpoint

    encoding, recipe = dataset_defaults("digits")
    spec = ModelSpec.dense(64, 10, dataset="digits", encoding=encoding, recipe=recipe)
    folder = tmp_path_factory.mktemp("digits") / "checkpoint"
    train_checkpoint(spec, datasets.load("digits"), folder, verbose=0)
    return folder
