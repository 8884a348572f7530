import pytest
from snu_models import model_bytes, snu_layers

SIZES = [16, 12, 8, 4]


@pytest.fixture(scope="session")
def layers():
    return snu_layers(SIZES)


@pytest.fixture(scope="session")
def step_bytes(layers):
    return model_bytes(layers, "step")


@pytest.fixture(scope="session")
def sequence_bytes(layers):
    return model_bytes(layers, "sequence")


@pytest.fixture
def step_path(tmp_path, step_bytes):
    path = tmp_path / "step.onnx"
    path.write_bytes(step_bytes)
    return path
