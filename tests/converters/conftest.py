"""Session-wide fixtures of the converter tests: small digits checkpoints of every SNU variant
with random spiking weights (no training), exported once in every format.

Checkpoints: 64 -> 32 -> 16 -> 10; every layer spikes on rate-encoded digits.
"""

from __future__ import annotations

import numpy as np
import pytest
from needs import need

VARIANTS = {
    "spiking_leaky_relu": {},
    "soft_sigmoid": {"cell": "ssnu"},
    "recurrent": {"recurrent": True},
    "lateral_inhibition": {"lateral_inhibition": True},
    "identity_g": {"g": "identity"},
}
SAMPLES = 64


@pytest.fixture(scope="session")
def digits():
    from snudeploy import datasets

    return datasets.load("digits")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """``{variant: checkpoint folder}``."""
    need("train")
    from checkpoints import random_checkpoint

    root = tmp_path_factory.mktemp("checkpoints")
    return {name: random_checkpoint(root / name, seed=i, **variant)
            for i, (name, variant) in enumerate(VARIANTS.items())}


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
