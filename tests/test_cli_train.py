import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from snudeploy.cli.main import cli


def test_help_is_tensorflow_free():
    """What makes --help slow is importing TensorFlow (seconds); the README gives the measured time."""
    code = ("import sys; from snudeploy.cli.main import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules, 'TensorFlow imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for command in ("quickstart", "train", "export", "quantize", "inspect", "run", "bench"):
        assert command in out.stdout


def test_runtime_import_is_tensorflow_free():
    subprocess.run([sys.executable, "-c", "import snudeploy.runtime, sys; assert 'tensorflow' not in sys.modules"],
                   check=True)


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar"], "Invalid value for '--dataset'"),
    (["--hidden", "0,5"], "positive integers"),
    (["--hidden", "a"], "comma-separated integers"),
    (["--timesteps", "4", "--max-spikes", "6"], "at most --timesteps"),
    (["--data", "/no/such/path"], "does not exist"),
])
def test_bad_flags_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_unreadable_data_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    result = CliRunner().invoke(cli, ["train", "--dataset", "mnist", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1


@pytest.mark.train
def test_train_writes_checkpoint_and_metrics(tmp_path):
    out = tmp_path / "ckpt"
    result = CliRunner().invoke(cli, ["train", "--dataset", "digits", "--out", str(out), "--epochs", "1",
                                      "--hidden", "16", "--limit", "300", "--quiet", "--lateral-inhibition"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "train_seconds", "eval_seconds", "train_samples_per_second",
                "eval_samples_per_second", "mean_spikes_per_sample", "versions"):
        assert key in metrics
    assert metrics["train_samples"] == 300 and len(metrics["mean_spikes_per_sample"]) == 2
    spec = json.loads((out / "spec.json").read_text())
    assert spec["lateral_inhibition"] and spec["hidden"] == [16] and spec["recipe"]["optimizer"] == "adam"
    assert (out / "model.weights.h5").is_file()


@pytest.mark.train
@pytest.mark.slow
def test_digits_default_recipe_reaches_93_percent(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--dataset", "digits", "--out", str(tmp_path / "d"), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.93


@pytest.mark.train
@pytest.mark.slow
def test_fashion_mnist_subset_from_debian_files(tmp_path):
    from snudeploy import datasets
    if not datasets.DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip("dataset-fashion-mnist not installed")
    result = CliRunner().invoke(cli, ["train", "--dataset", "fashion-mnist", "--limit", "1500", "--epochs", "1",
                                      "--out", str(tmp_path / "f"), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "f" / "metrics.json").read_text())
    assert metrics["test_samples"] == 10000 and metrics["test_accuracy"] > 0.5
