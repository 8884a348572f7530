"""`snudeploy run` on every float export equals the Keras model's accuracy on the same encoded data."""

import json

import pytest
from click.testing import CliRunner

from snudeploy.cli.main import cli

pytestmark = [pytest.mark.train, pytest.mark.slow]

FILES = ["step.onnx", "unrolled.onnx", "loop.onnx", "customop.onnx", "customop_step.onnx"]


@pytest.fixture(scope="module")
def digits_exports(digits_checkpoint, tmp_path_factory):
    from snudeploy.converters import export_files

    folder = tmp_path_factory.mktemp("digits-onnx")
    export_files(digits_checkpoint, "all", folder)
    return folder


@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize("mode", [[], ["--sequence"]], ids=["stream", "sequence"])
def test_run_accuracy_equals_keras(digits_checkpoint, digits_exports, file, mode, tmp_path):
    if file == "unrolled.onnx" and not mode:
        pytest.skip("an unrolled graph has a fixed T: it runs whole sequences only")
    out = tmp_path / "run.json"
    result = CliRunner().invoke(cli, ["run", str(digits_exports / file), "--json", str(out), *mode])
    assert result.exit_code == 0, result.output
    keras_accuracy = json.loads((digits_checkpoint / "spec.json").read_text())["metrics"]["test_accuracy"]
    ran = json.loads(out.read_text())
    assert ran["samples"] == 360
    assert ran["accuracy"] == pytest.approx(keras_accuracy, abs=1e-6)
