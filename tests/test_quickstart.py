"""The README's first command: `snudeploy quickstart` runs the whole pipeline on digits."""

import json

import pytest
from click.testing import CliRunner

from snudeploy.cli.main import cli

pytestmark = [pytest.mark.train, pytest.mark.slow]


def test_quickstart_runs_end_to_end(tmp_path):
    out = tmp_path / "qs"
    result = CliRunner().invoke(cli, ["quickstart", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for text in ("SNU, Keras", "int8 PTQ", "speed-up vs TF", "SNU vs LSTM", "customop.onnx"):
        assert text in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["keras"]["snu_accuracy"] >= 0.93
    assert summary["runtime"]["accuracy"] == pytest.approx(summary["keras"]["snu_accuracy"], abs=1e-6)
    assert abs(summary["int8"]["drop_points"]) <= 2.0 and summary["int8"]["size_ratio"] > 3
    assert all(f["prediction_agreement"] == 1.0 for f in summary["formats"].values())
    assert set(summary["latency"]) == {"b1", "b16"}
    assert all(v["step_speedup_vs_tf"] for v in summary["latency"].values())
    for artifact in ("snu/spec.json", "lstm/spec.json", "onnx/step.onnx", "onnx/customop.onnx",
                     "int8/step.int8.onnx", "bench/latency.json", "bench/accuracy.json"):
        assert (out / artifact).is_file(), artifact
    assert list((out / "bench").glob("*.png"))


def test_quickstart_rejects_unknown_dataset(tmp_path):
    result = CliRunner().invoke(cli, ["quickstart", "--dataset", "cifar", "--out", str(tmp_path)])
    assert result.exit_code == 2
