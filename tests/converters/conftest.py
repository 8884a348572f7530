"""Session-wide fixtures of the converter tests: small trained digits checkpoints of every
SNU variant, exported once in every format (helpers live in converter_helpers.py).

Checkpoints: 64 -> 32 -> 16 -> 10, trained one epoch on 600 digits (a few seconds each),
which is enough for every layer to spike (~5-15 % of units per step).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # converter_helpers.py

from converter_helpers import train_checkpoint  # noqa: E402

VARIANTS = {
    "spiking_leaky_relu": {},
    "soft_sigmoid": {"cell": "ssnu"},
    "recurrent": {"recurrent": True},
    "lateral_inhibition": {"lateral_inhibition": True},
    "identity_g": {"g": "identity"},
}
SAMPLES = 256


@pytest.fixture(scope="session")
def digits():
    from snudeploy import datasets

    return datasets.load("digits")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, digits):
    """``{variant: checkpoint folder}``."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {name: train_checkpoint(root / name, digits, "digits", 64, [32, 16], variant)
            for name, variant in VARIANTS.items()}


@pytest.fixture(scope="session")
def exports(tmp_path_factory, checkpoints):
    """``{variant: {file name: ExportedFile}}``: every format of every variant (force, so tests see failures)."""
    from snudeploy.converters import export_files

    root = tmp_path_factory.mktemp("exports")
    return {name: {f.path.name: f for f in export_files(ckpt, "all", root / name, samples=SAMPLES, force=True)}
            for name, ckpt in checkpoints.items()}


@pytest.fixture(scope="session")
def test_spikes(digits):
    """The first 64 digits test images, rate-encoded like the checkpoints' test split."""
    from snudeploy.encoding import encode_rate

    return encode_rate(digits[2][:64], 20, 15.0, seed=1).astype(np.float32)
