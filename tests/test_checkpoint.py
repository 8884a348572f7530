"""Checkpoints round-trip exactly under Keras 3 and under tf-keras (TF_USE_LEGACY_KERAS=1)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from needs import need

pytestmark = pytest.mark.train
need("train")

import tensorflow as tf  # noqa: E402

from snudeploy import load_checkpoint, save_checkpoint  # noqa: E402
from snudeploy.checkpoint import build_model  # noqa: E402
from snudeploy.errors import ModelFileError  # noqa: E402
from snudeploy.spec import ModelSpec  # noqa: E402

SPECS = {
    "snu": ModelSpec.dense(12, 3, hidden=[9, 5]),
    "recurrent-li-ssnu": ModelSpec.dense(12, 3, hidden=[9], cell="ssnu", recurrent=True,
                                   lateral_inhibition=True, g="identity"),
    "lstm": ModelSpec.dense(12, 3, hidden=[9], model="lstm"),
}
X = (np.random.default_rng(0).random((5, 7, 12)) < 0.5).astype(np.float32)


def _randomise(model, seed=1):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0, 0.7, w.shape).astype(np.float32))


@pytest.mark.parametrize("name", SPECS)
def test_round_trip_keras3(tmp_path, name):
    model = build_model(SPECS[name])
    _randomise(model)
    save_checkpoint(model, SPECS[name], tmp_path)
    restored = load_checkpoint(tmp_path)
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(model(X).numpy(), restored(X).numpy())


_LEGACY_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    from snudeploy import load_checkpoint, save_checkpoint
    from snudeploy.checkpoint import legacy_keras
    assert legacy_keras(), tf.keras.__name__
    model = load_checkpoint(sys.argv[1])
    np.save(sys.argv[2], model(np.load(sys.argv[3])).numpy())
    save_checkpoint(model, __import__("snudeploy.spec").spec.ModelSpec.load(sys.argv[1]), sys.argv[4])
""")


@pytest.mark.slow
def test_round_trip_across_keras_versions(tmp_path):
    """Keras 3 writes, tf-keras loads and writes again, Keras 3 loads: weights identical (so Keras 3's outputs
    are too); tf-keras's own outputs equal to float rounding, since its RNN loop is not Keras 3's."""
    spec = SPECS["recurrent-li-ssnu"]
    model = build_model(spec)
    _randomise(model)
    save_checkpoint(model, spec, tmp_path / "k3")
    np.save(tmp_path / "x.npy", X)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", _LEGACY_SCRIPT, str(tmp_path / "k3"), str(tmp_path / "y.npy"),
                    str(tmp_path / "x.npy"), str(tmp_path / "k2")], env=env, check=True, capture_output=True)
    expected = model(X).numpy()
    # soft (sigmoid) outputs in [0, 1] through another framework's graph: 1e-6 is a few ulps
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(load_checkpoint(tmp_path / "k2")(X).numpy(), expected)


def test_missing_or_corrupt_checkpoint(tmp_path):
    with pytest.raises(ModelFileError, match="not a snudeploy checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "spec.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid spec JSON"):
        load_checkpoint(tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps(SPECS["snu"].to_dict()))
    with pytest.raises(ModelFileError, match="no model.weights.h5"):
        load_checkpoint(tmp_path)
    (tmp_path / "model.weights.h5").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="Cannot load"):
        load_checkpoint(tmp_path)


def test_newer_spec_schema_is_refused(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({**SPECS["snu"].to_dict(), "schema_version": 99}))
    with pytest.raises(ModelFileError, match="Upgrade snudeploy"):
        ModelSpec.load(tmp_path)
