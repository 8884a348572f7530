"""`snudeploy run`: encodes the test split as in training, streams it, reports; bad input exits 2."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from needs import need
from snu_models import model_bytes, snu_layers

from snudeploy.cli.main import cli
from snudeploy.encoding import encode_rate
from snudeploy.runtime import StreamingSession

ENCODING = {"timesteps": 5, "max_spikes": 3.0, "seed": 4}
LAYERS = snu_layers([64, 24, 10], seed=5)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Digits-sized step and sequence models and a digits-shaped .npz (8x8 images, 10 classes)."""
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    data = {"x_train": rng.random((20, 8, 8)), "y_train": rng.integers(0, 10, 20),
            "x_test": rng.random((45, 8, 8)), "y_test": rng.integers(0, 10, 45)}
    np.savez(folder / "digits.npz", **data)
    for graph in ("step", "sequence"):
        (folder / f"{graph}.onnx").write_bytes(model_bytes(LAYERS, graph, encoding=ENCODING, dataset="digits"))
    (folder / "wide.onnx").write_bytes(model_bytes(snu_layers([784, 8, 10]), encoding=ENCODING))
    (folder / "few_classes.onnx").write_bytes(model_bytes(snu_layers([64, 8, 3]), encoding=ENCODING))
    (folder / "broken.onnx").write_bytes(b"not an onnx file")
    return folder, data


def invoke(*args):
    return CliRunner().invoke(cli, ["run", *map(str, args)])


def expected(data, limit):
    """Accuracy and spikes/sample computed directly: test seed is the encoding seed + 1."""
    x = encode_rate(data["x_test"][:limit], ENCODING["timesteps"], ENCODING["max_spikes"], ENCODING["seed"] + 1)
    rates = StreamingSession(model_bytes(LAYERS)).run(x)
    return float(np.mean(rates.argmax(axis=1) == data["y_test"][:limit])), float(rates.sum(axis=1).mean() * 5)


@pytest.mark.parametrize("model, extra", [("step", []), ("sequence", []), ("sequence", ["--sequence"]),
                                          ("step", ["--sequence"])])
def test_run_reports_accuracy_spikes_and_throughput(files, model, extra):
    folder, data = files
    out = folder / f"{model}{''.join(extra)}.json"
    result = invoke(folder / f"{model}.onnx", "--data", folder / "digits.npz", "--limit", 30, "--streams", 7,
                    "--threads", 1, "--json", out, *extra)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    accuracy, spikes = expected(data, 30)
    assert report["dataset"] == "digits"  # from the model's metadata
    assert report["samples"] == 30 and report["timesteps"] == 5 and report["streams"] == 7
    assert report["mode"] == ("sequence" if extra else "stream")
    assert report["accuracy"] == pytest.approx(accuracy)
    assert report["mean_output_spikes"] == pytest.approx(spikes, rel=1e-5)
    assert report["steps_per_second"] > 0 and report["provider"] == "CPUExecutionProvider"
    assert f"accuracy {accuracy:.4f}" in result.output and "CPUExecutionProvider" in result.output


def test_cuda_request_without_cuda_warns_once_and_runs_on_cpu(files):
    from snudeploy.runtime import cuda_unavailable_reason
    if cuda_unavailable_reason() is None:
        pytest.skip("CUDA is usable here")
    folder, _ = files
    result = invoke(folder / "step.onnx", "--data", folder / "digits.npz", "--limit", 5, "--provider", "cuda")
    assert result.exit_code == 0, result.output
    assert result.output.count("Warning: CUDA was requested") == 1 and "CPUExecutionProvider" in result.output


@pytest.mark.parametrize("model, args, message", [
    ("broken.onnx", [], "is not a readable ONNX model"),
    ("missing.onnx", [], "does not exist"),
    ("wide.onnx", ["--dataset", "digits"], "expects 784 input features, but digits samples have 64 (shape [8, 8])"),
    ("wide.onnx", [], "expects 784 input features, but digits.npz samples have 64"),  # --data alone names the data
    ("few_classes.onnx", ["--dataset", "digits"], "has labels up to 9, but"),
])
def test_bad_input_exits_2_with_one_line(files, model, args, message):
    folder, _ = files
    result = invoke(folder / model, "--data", folder / "digits.npz", *args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0]


def test_real_digits_test_split(files):
    need("train")
    folder, _ = files
    result = invoke(folder / "step.onnx", "--dataset", "digits", "--limit", 12, "--json", "-")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["samples"] == 12 and 0 <= report["accuracy"] <= 1


def test_help_lists_run():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert any(line.split()[:1] == ["run"] for line in result.output.splitlines())
