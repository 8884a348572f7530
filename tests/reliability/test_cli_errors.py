"""Every command, given invalid values or an unwritable output: exit code 2, one line on stderr, no work done."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from snudeploy.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "digits-snu" / "step.onnx"
CHECKPOINT = ROOT / "models" / "digits-snu"


@pytest.fixture(scope="module")
def blocker(tmp_path_factory):
    """A regular file: any output below it cannot be written."""
    path = tmp_path_factory.mktemp("outputs") / "a-file"
    path.write_text("not a folder")
    return path


def cases(blocker: Path):
    unwritable = blocker / "out"
    return {
        "train dataset": ["train", "--dataset", "cifar", "--out", "o"],
        "train hidden": ["train", "--hidden", "0", "--out", "o"],
        "train timesteps": ["train", "--timesteps", "100000000", "--out", "o"],
        "train out": ["train", "--out", unwritable, "--epochs", "1"],
        "train data": ["train", "--data", "/no/such/path", "--out", "o"],
        "export checkpoint": ["export", "/no/such/ckpt", "--out", "o"],
        "export onnx-as-checkpoint": ["export", MODEL, "--out", "o"],
        "export opset": ["export", CHECKPOINT, "--out", "o", "--opset", "12"],
        "export format": ["export", CHECKPOINT, "--out", "o", "--format", "stepp"],
        "export out": ["export", CHECKPOINT, "--out", unwritable],
        "export json": ["export", CHECKPOINT, "--out", "o", "--json", unwritable],
        "export samples": ["export", CHECKPOINT, "--out", "o", "--samples", "0"],
        "quantize method": ["quantize", CHECKPOINT, "--method", "int4", "--out", "o"],
        "quantize out": ["quantize", CHECKPOINT, "--method", "ptq", "--out", unwritable],
        "quantize epochs": ["quantize", CHECKPOINT, "--method", "qat", "--out", "o", "--epochs", "0"],
        "inspect missing": ["inspect", "/no/such/model.onnx"],
        "inspect device": ["inspect", "/dev/zero"],
        "inspect spec": ["inspect", CHECKPOINT / "spec.json"],
        "inspect json": ["inspect", MODEL, "--json", unwritable],
        "run missing": ["run", "/no/such/model.onnx"],
        "run spec": ["run", CHECKPOINT / "spec.json"],
        "run streams": ["run", MODEL, "--streams", "0"],
        "run threads": ["run", MODEL, "--threads", "1000000"],
        "run provider": ["run", MODEL, "--provider", "tpu"],
        "run json": ["run", MODEL, "--json", unwritable],
        "run timeout": ["run", MODEL, "--run-timeout", "-1"],
        "bench latency batch": ["bench", "latency", MODEL, "--batch", "1000000000"],
        "bench latency threads": ["bench", "latency", MODEL, "--threads", "0"],
        "bench latency json": ["bench", "latency", MODEL, "--json", unwritable],
        "bench latency plot": ["bench", "latency", MODEL, "--plot", unwritable],
        "bench profile batch": ["bench", "profile", MODEL, "--batch", "0"],
        "bench profile json": ["bench", "profile", MODEL, "--json", unwritable],
        "bench profile spec": ["bench", "profile", CHECKPOINT / "spec.json"],
        "bench accuracy limit": ["bench", "accuracy", MODEL, "--limit", "0"],
        "bench accuracy json": ["bench", "accuracy", MODEL, "--json", unwritable],
        "quickstart dataset": ["quickstart", "--dataset", "cifar"],
        "quickstart out": ["quickstart", "--out", unwritable],
        "serve model": ["serve", "triton", "/no/such/model.onnx", "--repo", "r"],
        "serve instances": ["serve", "triton", MODEL, "--repo", "r", "--instances", "0"],
        "serve repo": ["serve", "triton", MODEL, "--repo", unwritable],
        "import-nir file": ["import-nir", MODEL, "--out", "o"],
        "import-nir out": ["import-nir", "/no/such/graph.nir", "--out", unwritable],
        "unknown command": ["frobnicate"],
        "unknown option": ["run", MODEL, "--frobnicate"],
    }


CASES = sorted(cases(Path("/tmp/placeholder")))


@pytest.mark.parametrize("name", CASES)
def test_one_line_and_exit_2(name, blocker, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [str(a) for a in cases(blocker)[name]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, (args, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.stderr)
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("args", [["export", str(CHECKPOINT), "--out", "/proc/version/out"],
                                  ["train", "--hidden", "0", "--out", "o"],
                                  ["run", str(CHECKPOINT / "spec.json")]], ids=["export", "train", "run"])
def test_the_console_script_prints_one_line_without_library_noise(args, tmp_path):
    """In a real process, TensorFlow, absl and ONNX Runtime could write to stderr themselves: they do not."""
    env = {key: value for key, value in os.environ.items() if key not in ("SNUDEPLOY_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
    done = subprocess.run([sys.executable, "-m", "snudeploy.cli.main", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("Error: "), done.stderr


def test_an_unexpected_failure_is_one_line_and_exit_1(monkeypatch):
    import snudeploy.runtime.session as session

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(session.StreamingSession, "__init__", broken)
    result = CliRunner().invoke(cli, ["run", str(MODEL)])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: Unexpected error (ZeroDivisionError: a bug) "
                                     "[SNUDEPLOY_DEBUG=1 shows the traceback]")
