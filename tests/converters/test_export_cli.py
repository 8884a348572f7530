"""`snudeploy export` and `snudeploy inspect` through click's CliRunner."""

import dataclasses
import json

import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from snudeploy.cli.main import cli
from snudeploy.converters import formats


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.train
def test_export_step_prints_a_table_and_writes_json(runner, checkpoints, tmp_path):
    result = runner.invoke(cli, ["export", str(checkpoints["recurrent"]), "--format", "step", "--out",
                                 str(tmp_path), "--samples", "32", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    header, _, row = result.stdout.strip().splitlines()
    cells = lambda line: [c.strip() for c in line.strip("|").split("|")]  # noqa: E731
    assert cells(header)[:3] == ["file", "format", "graph"]
    assert cells(row)[:3] == ["step.onnx", "step", "step"] and cells(row)[-1] == "pass"
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and report["files"][0]["prediction_agreement"] == 1.0
    assert (tmp_path / "step.onnx").is_file() and (tmp_path / "validation.json").is_file()


@pytest.mark.train
def test_export_exits_2_when_validation_fails_and_0_with_force(runner, checkpoints, tmp_path, monkeypatch):
    strict = dataclasses.replace(formats.get("step"), gates=formats.Gates(prediction_agreement=2.0))
    monkeypatch.setitem(formats.FORMATS, "step", strict)
    args = ["export", str(checkpoints["identity_g"]), "--format", "step", "--samples", "16"]
    result = runner.invoke(cli, args + ["--out", str(tmp_path / "a")])
    assert result.exit_code == 2, result.output
    assert "FAIL" in result.stdout and "nothing written" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0]
    assert not (tmp_path / "a").exists()
    result = runner.invoke(cli, args + ["--out", str(tmp_path / "b"), "--force"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "step.onnx").is_file() and "FAIL" in result.stdout


@pytest.mark.train
@pytest.mark.parametrize("name", ["step.onnx", "loop.onnx", "customop.onnx"])
def test_inspect_shows_format_layers_states_ops_and_validation(runner, exports, tmp_path, name):
    path = exports["lateral_inhibition"][name].path
    result = runner.invoke(cli, ["inspect", str(path), "--json", str(tmp_path / "i.json")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("format", "lateral_inhibition", "l2_s -> l2_s_next [B, 10]", "ai.onnx 17", "method none",
                 "validation       pass", "KB"):
        assert text in out, text
    info = json.loads((tmp_path / "i.json").read_text())
    assert info["format"] == name.removesuffix(".onnx") and info["opset"] == 17
    if name == "loop.onnx":
        assert info["ops"]["graph"]["Loop"] == 3 and info["ops"]["total"]["bodies"] > 0
    if name == "customop.onnx":
        assert info["ops"]["graph"]["ai.snudeploy::SNULayer"] == 3 and "ai.snudeploy::SNULayer" in out


def test_export_bad_input_exits_2_with_one_line(runner, tmp_path):
    cases = [
        ["export", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
        ["export", str(tmp_path), "--out", str(tmp_path / "o"), "--opset", "12"],
        ["export", str(tmp_path), "--out", str(tmp_path / "o"), "--format", "stepp"],
    ]
    for args in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.strip().splitlines()[-1].startswith("Error:")


def test_inspect_rejects_non_onnx_and_foreign_onnx_with_exit_2(runner, tmp_path):
    (tmp_path / "text.onnx").write_text("not a model at all")
    graph = helper.make_graph([helper.make_node("Identity", ["a"], ["b"])], "g",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(tmp_path / "foreign.onnx"))
    (tmp_path / "validation.json").write_text("{}")
    for name, message in (("text.onnx", "is not a readable ONNX model"), ("foreign.onnx", "no 'snudeploy' metadata"),
                          ("missing.onnx", "does not exist"), ("validation.json", "is not an ONNX model")):
        result = runner.invoke(cli, ["inspect", str(tmp_path / name)])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_help_lists_export_and_inspect(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "export" in result.stdout and "inspect" in result.stdout
    result = runner.invoke(cli, ["export", "--help"])
    assert "step|unrolled|loop|customop|all" in result.stdout.replace("[", "").replace("]", "")
