"""Fixtures of the bench tests: tiny TensorFlow-free models and data, digits exports for the train tests."""

import numpy as np
import pytest
from click.testing import CliRunner
from needs import need
from snu_models import model_bytes, snu_layers

from snudeploy.cli.main import cli
from snudeploy.encoding import Encoding

SIZES = [16, 12, 8, 4]  # 4x4 "images", three layers, four classes
ENCODING = Encoding(timesteps=6, max_spikes=3.0, seed=0)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """{"step", "sequence", "unrolled"} -> a small snudeploy ONNX file (random weights, spiking)."""
    folder = tmp_path_factory.mktemp("tiny")
    layers = snu_layers(SIZES)
    files = {"step": ("step", None), "sequence": ("sequence", None), "unrolled": ("sequence", ENCODING.timesteps)}
    for name, (graph, timesteps) in files.items():
        (folder / f"{name}.onnx").write_bytes(model_bytes(layers, graph, timesteps=timesteps, encoding=ENCODING,
                                                          dataset="digits"))
    return {name: folder / f"{name}.onnx" for name in files}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """An .npz dataset of 4x4 images in [0, 1] with labels 0..3, for --data."""
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_train=rng.random((8, 4, 4)), y_train=rng.integers(0, 4, 8),
             x_test=rng.random((40, 4, 4)), y_test=rng.integers(0, 4, 40))
    return path


@pytest.fixture
def invoke():
    """Run the CLI in-process; return the click Result."""
    def run(*args):
        return CliRunner().invoke(cli, [str(a) for a in args])
    return run


@pytest.fixture(scope="session")
def digits_exports(random_digits_checkpoint, tmp_path_factory):
    """The random digits checkpoint exported as step and customop (step + sequence graphs)."""
    from snudeploy.converters import export_files

    folder = tmp_path_factory.mktemp("digits-onnx")
    files = export_files(random_digits_checkpoint, "step", folder, samples=64)
    files += export_files(random_digits_checkpoint, "customop", folder, samples=64)
    return {f"{f.format}/{f.graph}": f.path for f in files}


@pytest.fixture(scope="session")
def digits_lstm(tmp_path_factory):
    """A small LSTM baseline on digits with random weights: only its speed matters."""
    need("train")
    from checkpoints import random_checkpoint

    return random_checkpoint(tmp_path_factory.mktemp("lstm") / "checkpoint", (64, 16, 10), model="lstm")
