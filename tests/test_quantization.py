"""QAT and PTQ end to end on the trained digits network, and the errors of `snudeploy quantize`."""

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from snudeploy.cli.main import cli
from snudeploy.quantization import METHODS

pytestmark = [pytest.mark.train, pytest.mark.slow]


@pytest.fixture(scope="module", params=list(METHODS))  # every registered method
def quantized(request, digits_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    result = CliRunner().invoke(cli, ["quantize", str(digits_checkpoint), "--method", request.param,
                                      "--out", str(out), "--json", str(out / "cli.json")])
    assert result.exit_code == 0, result.output
    return request.param, out, json.loads((out / "quantization.json").read_text())


def test_drop_at_most_two_points_and_smaller(quantized):
    method, out, report = quantized
    assert set(report["graphs"]) == {"step", "customop"}
    for name, g in report["graphs"].items():
        assert g["accuracy_drop_points"] <= 2.0, (name, g)
        assert g["prediction_agreement"] >= 0.97
        assert g["size_ratio"] >= 3.0  # the tiny 64-input digits net; Fashion-MNIST reaches ~3.9
        assert all(0.8 < v <= 1.0 for v in g["spike_agreement_per_layer"].values())
        assert set(g["latency_us"]) == {"float", "int8"}


def test_int8_graphs_hold_int8_weights_and_metadata(quantized):
    method, out, _ = quantized
    for file in ("step.int8.onnx", "customop.int8.onnx"):
        model = onnx.load(str(out / file))
        onnx.checker.check_model(model, full_check=True)
        ops = {n.op_type for n in model.graph.node}
        assert {"MatMulInteger", "Cast", "Mul"} <= ops and "MatMul" not in ops
        weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
        assert weights and max(int(np.prod(t.dims)) for t in weights) >= 64 * 250
        meta = json.loads({p.key: p.value for p in model.metadata_props}["snudeploy"])
        assert meta["quantization"]["method"] == method and meta["quantization"]["bits"] == 8
        assert meta["input"]["binary"] is True
        assert meta["validation"]["prediction_agreement"] >= 0.97
        assert meta["validation"]["exact_reference"]["spikes_equal"]


def test_qat_int8_reproduces_the_trained_grid(quantized):
    method, _, report = quantized
    if method != "qat":
        pytest.skip("QAT only")
    for g in report["graphs"].values():
        assert g["vs_qat_float"]["prediction_agreement"] >= 0.99
        assert min(g["vs_qat_float"]["spike_agreement_per_layer"].values()) >= 0.99


def test_inspect_shows_quantization(quantized):
    method, out, _ = quantized
    result = CliRunner().invoke(cli, ["inspect", str(out / "step.int8.onnx")])
    assert result.exit_code == 0, result.output
    assert method in result.output
    assert "vs the float step export" in result.output and "FAIL" not in result.output


def test_bad_inputs_exit_2(digits_checkpoint, tmp_path):
    runner = CliRunner()
    cases = [
        (["quantize", str(tmp_path), "--method", "ptq", "--out", str(tmp_path / "o")], "not a snudeploy checkpoint"),
        (["quantize", str(digits_checkpoint), "--method", "qat", "--out", str(tmp_path / "o"), "--epochs", "0"],
         "--epochs"),
        (["quantize", str(digits_checkpoint), "--method", "int4", "--out", str(tmp_path / "o")], "--method"),
    ]
    wide = tmp_path / "wide.npz"
    np.savez(wide, x_train=np.zeros((4, 5, 5)), y_train=np.arange(4), x_test=np.zeros((2, 5, 5)), y_test=np.arange(2))
    cases.append((["quantize", str(digits_checkpoint), "--method", "ptq", "--out", str(tmp_path / "o"),
                   "--data", str(wide)], "have 25"))
    spec = json.loads((digits_checkpoint / "spec.json").read_text())
    done = tmp_path / "done"
    done.mkdir()
    (done / "spec.json").write_text(json.dumps({**spec, "quantization": {"method": "qat", "bits": 8}}))
    cases.append((["quantize", str(done), "--method", "ptq", "--out", str(tmp_path / "o")], "already quantized"))
    for args, message in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
