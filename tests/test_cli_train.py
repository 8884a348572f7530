import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from needs import need

from snudeploy.cli.main import cli


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    for command in ("quickstart", "train", "export", "quantize", "inspect", "run", "bench"):
        assert command in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar"], "Invalid value for '--dataset'"),
    (["--hidden", "0,5"], "expected integers from 1 to 65536"),
    (["--hidden", "100000000"], "expected integers from 1 to 65536"),
    (["--hidden", "a"], "comma-separated integers"),
    (["--timesteps", "4", "--max-spikes", "6"], "`max_spikes`, expected a number in [0, 4]"),
    (["--timesteps", "10000000"], "Invalid value for '--timesteps'"),
    (["--batch-size", "0"], "Invalid value for '--batch-size'"),
    (["--data", "/no/such/path"], "does not exist"),
])
def test_bad_flags_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_unreadable_data_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    result = CliRunner().invoke(cli, ["train", "--dataset", "mnist", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1


@pytest.mark.train
@pytest.mark.slow
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
    assert all(layer["lateral_inhibition"] for layer in spec["layers"])
    assert [layer["units"] for layer in spec["layers"]] == [16, 10] and spec["recipe"]["optimizer"] == "adam"
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
    need("fashion-mnist")
    result = CliRunner().invoke(cli, ["train", "--dataset", "fashion-mnist", "--limit", "1500", "--epochs", "1",
                                      "--out", str(tmp_path / "f"), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "f" / "metrics.json").read_text())
    assert metrics["test_samples"] == 10000 and metrics["test_accuracy"] > 0.5


@pytest.mark.train
@pytest.mark.parametrize("schedule, last_rate", [("constant", 3e-3), ("cosine", 0.0)])
def test_lr_schedule_reaches_its_last_rate_on_the_last_step(schedule, last_rate):
    """--lr-schedule cosine decays the rate to 0 over epochs x batches an epoch (60 samples / 15 = 4 batches)."""
    import dataclasses

    from snudeploy import datasets
    from snudeploy.spec import ModelSpec
    from snudeploy.training import Training, dataset_defaults

    encoding, recipe = dataset_defaults("digits")
    recipe = dataclasses.replace(recipe, epochs=2, limit=60, schedule=schedule)
    spec = ModelSpec.dense(64, 10, hidden=(16,), dataset="digits", encoding=encoding, recipe=recipe)
    training = Training(spec, datasets.load("digits"))
    training.fit(1)
    assert 0 < float(training.model.optimizer.learning_rate) <= 3e-3 * (1 + 1e-6)  # float32
    training.fit(1)
    assert int(training.model.optimizer.iterations) == 8
    assert float(training.model.optimizer.learning_rate) == pytest.approx(last_rate, rel=1e-6, abs=1e-9)


def test_unknown_lr_schedule_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--lr-schedule", "step", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "Invalid value for '--lr-schedule'" in result.stderr
