"""The default run is the quick lane; ``--full`` or ``-m`` choose more; absent needs name their command."""

import subprocess
import sys
from pathlib import Path

import needs
import pytest

from snudeploy import datasets

ROOT = Path(__file__).resolve().parents[1]


def collected(*args: str) -> str:
    """pytest's collection summary for tests/test_datasets.py (nine quick tests, one slow) with ``args``."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider",
                           "-p", "no:hypothesispytest", "tests/test_datasets.py", *args],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_default_run_leaves_out_slow_tests_and_says_how_to_run_them():
    out = collected()
    assert "9/10 tests collected (1 deselected)" in out
    assert "1 slow tests (training, servers, full-size data) left out; python -m pytest --full" in out
    full = collected("--full")
    assert "10 tests collected" in full and "left out" not in full
    assert "1/10 tests collected (9 deselected)" in collected("-m", "slow")


def test_an_absent_need_names_the_command_that_brings_it(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.FASHION_MNIST_VARIABLE, str(tmp_path))  # an empty folder: no data set
    monkeypatch.setattr(needs, "installed", lambda module: module != "nir")
    assert needs.missing("train", "serve") is None
    assert needs.missing("nir", "fashion-mnist") == (
        'needs the [nir] extra (nir): pip install -e ".[nir]"; needs Fashion-MNIST (Debian\'s dataset-fashion-mnist, '
        "or $SNUDEPLOY_FASHION_MNIST naming a folder of its IDX files): sudo apt-get install dataset-fashion-mnist")
    with pytest.raises(pytest.skip.Exception, match=r'pip install -e "\.\[nir\]"'):
        needs.need("nir")
