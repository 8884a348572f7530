import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the numpy oracle, snu_reference.py
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # blocked, as tests/runtime/base_install_guard.py does
        return False


HAS_TF = _installed("tensorflow")


def pytest_collection_modifyitems(config, items):
    if HAS_TF:
        return
    skip = pytest.mark.skip(reason="needs the [train] extra (TensorFlow)")
    for item in items:
        if "train" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory):
    """The digits network trained with its default recipe (~97 % test accuracy, ~30 s)."""
    pytest.importorskip("tensorflow")
    from snudeploy import datasets, save_checkpoint
    from snudeploy.spec import ModelSpec
    from snudeploy.training import dataset_defaults, train

    data = datasets.load("digits")
    encoding, recipe = dataset_defaults("digits")
    spec = ModelSpec(input_features=64, classes=10, dataset="digits", encoding=encoding, recipe=recipe)
    model, metrics = train(spec, data, verbose=0)
    spec.metrics = {k: v for k, v in metrics.items() if k != "history"}
    return save_checkpoint(model, spec, tmp_path_factory.mktemp("digits") / "checkpoint")
