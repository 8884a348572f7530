"""The issue's acceptance: train on japanese-vowels, export, and stream the step graph with the accuracy it trained to."""

import json
import re

import pytest
from click.testing import CliRunner

from needs import need

from snudeploy.cli.main import cli

pytestmark = [pytest.mark.slow, pytest.mark.train]


@pytest.fixture(autouse=True)
def sktime():
    need("data")


def test_train_export_run_on_japanese_vowels_print_the_same_accuracy(tmp_path):
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", "--dataset", "japanese-vowels", "--hidden", "32", "--epochs", "8",
                                  "--out", str(tmp_path / "ckpt"), "--quiet"])
    assert trained.exit_code == 0, trained.output
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", trained.output).group(1))
    exported = runner.invoke(cli, ["export", str(tmp_path / "ckpt"), "--format", "step", "--out", str(tmp_path / "onnx")])
    assert exported.exit_code == 0, exported.output
    ran = runner.invoke(cli, ["run", str(tmp_path / "onnx" / "step.onnx"), "--json", str(tmp_path / "run.json")])
    assert ran.exit_code == 0, ran.output
    result = json.loads((tmp_path / "run.json").read_text())
    assert result["mode"] == "feed" and result["samples"] == 370 and result["steps_per_sample"] == [7, 29]
    assert abs(result["accuracy"] - accuracy) * 370 <= 1 + 1e-6
