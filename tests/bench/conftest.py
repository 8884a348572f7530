"""Fixtures of the bench tests: tiny TensorFlow-free models and data, digits exports for the train tests."""

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from snudeploy import metadata
from snudeploy.cli.main import cli
from snudeploy.converters import customop
from snudeploy.converters.network import SNULayerParams

SIZES = [16, 12, 8, 4]  # 4x4 "images", three layers, four classes
ENCODING = {"kind": "rate", "timesteps": 6, "max_spikes": 3.0, "seed": 0}


def _layers(seed=0):
    rng = np.random.default_rng(seed)
    return [SNULayerParams(kernel=rng.normal(0.1, 1.5 / np.sqrt(f), (f, u)).astype(np.float32),
                           threshold=rng.uniform(0.8, 1.2, u).astype(np.float32), decay=0.9, g="leaky_relu")
            for f, u in zip(SIZES[:-1], SIZES[1:])]


def _write(path, layers, graph, format, timesteps=None):
    model = customop.build(layers, graph, 17, timesteps)
    meta = metadata.build(format, graph, [p.config() for p in layers], SIZES[0], 17, timesteps=timesteps,
                          encoding=ENCODING, dataset="digits")
    onnx.helper.set_model_props(model, {metadata.METADATA_KEY: metadata.dumps(meta)})
    onnx.save_model(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """{"step", "sequence", "unrolled"} -> a small snudeploy ONNX file (random weights, spiking)."""
    folder = tmp_path_factory.mktemp("tiny")
    layers = _layers()
    return {"step": _write(folder / "step.onnx", layers, "step", "customop"),
            "sequence": _write(folder / "sequence.onnx", layers, "sequence", "customop"),
            "unrolled": _write(folder / "unrolled.onnx", layers, "sequence", "unrolled", ENCODING["timesteps"])}


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
def digits_exports(digits_checkpoint, tmp_path_factory):
    """The digits checkpoint exported as step and customop (step + sequence graphs)."""
    from snudeploy.converters import export_files

    folder = tmp_path_factory.mktemp("digits-onnx")
    files = export_files(digits_checkpoint, "step", folder, samples=64)
    files += export_files(digits_checkpoint, "customop", folder, samples=64)
    return {f"{f.format}/{f.graph}": f.path for f in files}


@pytest.fixture(scope="session")
def digits_lstm(tmp_path_factory):
    """A tiny LSTM baseline on digits (hidden 16, 300 samples, 1 epoch): only its speed matters."""
    pytest.importorskip("tensorflow")
    from snudeploy import datasets, save_checkpoint
    from snudeploy.spec import ModelSpec
    from snudeploy.training import dataset_defaults, train

    encoding, recipe = dataset_defaults("digits")
    recipe.epochs, recipe.limit = 1, 300
    spec = ModelSpec(input_features=64, classes=10, hidden=[16], model="lstm", dataset="digits",
                     encoding=encoding, recipe=recipe)
    model, _ = train(spec, datasets.load("digits"), verbose=0)
    return save_checkpoint(model, spec, tmp_path_factory.mktemp("lstm") / "checkpoint")
