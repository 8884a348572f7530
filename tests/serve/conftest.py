"""Fixtures of the serving tests: a tiny TensorFlow-free step model and its Triton repositories."""

import pytest
from snu_models import conv_network, model_bytes, snu_layers

from snudeploy.encoding import Encoding

SIZES = [16, 12, 4]
ENCODING = Encoding(timesteps=6, max_spikes=3.0, seed=0)


@pytest.fixture(scope="session")
def tiny_step(tmp_path_factory):
    """A 16-12-4 SNU step model (customop format, random spiking weights)."""
    path = tmp_path_factory.mktemp("tiny") / "step.onnx"
    path.write_bytes(model_bytes(snu_layers(SIZES), "step", encoding=ENCODING, dataset="digits"))
    return path


@pytest.fixture(scope="session")
def tiny_conv(tmp_path_factory):
    """A small conv step model (8x8x2 input, 5 classes, step format), for N-D inputs and states."""
    path = tmp_path_factory.mktemp("tiny-conv") / "step.onnx"
    path.write_bytes(model_bytes(conv_network(), "step", format="step", encoding=ENCODING, dataset="digits"))
    return path
