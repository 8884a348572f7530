import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the numpy oracle, snu_reference.py
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HAS_TF = importlib.util.find_spec("tensorflow") is not None


def pytest_collection_modifyitems(config, items):
    if HAS_TF:
        return
    skip = pytest.mark.skip(reason="needs the [train] extra (TensorFlow)")
    for item in items:
        if "train" in item.keywords:
            item.add_marker(skip)
