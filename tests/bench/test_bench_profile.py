"""`snudeploy bench profile`: the account of one call adds up, names every matrix product, and follows the schema."""

import json

import onnx
import pytest
from snu_models import int8_model_bytes, model_bytes, snu_layers

from snudeploy.bench import schema
from snudeploy.bench.profile import profile
from snudeploy.errors import ProviderError

SIZES = [16, 12, 8, 4]  # as the tiny_models fixture


def _check_account(document, model_path, product):
    assert schema.validate(document) == []
    records = document["records"]
    kinds = [r["kind"] for r in records]
    nodes = onnx.load(model_path).graph.node
    matmuls = [n for n in nodes if n.op_type == product]
    assert kinds == ["call"] + ["product"] * len(matmuls) + ["rest", "total"]
    assert [r["part"].split()[0] for r in records if r["kind"] == "product"] == [product] * len(matmuls)
    total = records[-1]
    assert total["nodes"] == len(nodes) and total["share"] == 1.0
    assert sum(r["nodes"] for r in records[:-1]) == len(nodes) + 1  # + the empty graph's Identity
    parts = sum(r["us_per_call"] for r in records[:-1])
    assert parts == pytest.approx(total["us_per_call"], rel=1e-3) or records[-2]["us_per_call"] == 0
    assert all(r["us_per_call"] >= 0 for r in records)


def test_a_step_graph_is_accounted_for(invoke, tiny_models, tmp_path):
    out = tmp_path / "profile.json"
    result = invoke("bench", "profile", tiny_models["step"], "--iters", "20", "--warmup", "2", "--json", out)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["kind"] == "profile" and document["settings"]["batch"] == 1
    _check_account(document, tiny_models["step"], "MatMul")
    assert "| part" in result.stdout and "ONNX Runtime call (empty graph)" in result.stdout


def test_an_int8_step_graph_times_its_integer_products(tmp_path):
    path = tmp_path / "step.int8.onnx"
    path.write_bytes(int8_model_bytes(snu_layers(SIZES), "step", format="step"))
    document = profile(path, batch=3, iters=10, warmup=1)
    _check_account(document, path, "MatMulInteger")
    assert "[3×16]·[16×12]" in document["records"][1]["part"]


def test_a_sequence_graph_is_profiled_per_whole_sequence(tmp_path):
    path = tmp_path / "unrolled.onnx"
    path.write_bytes(model_bytes(snu_layers(SIZES), "sequence", format="unrolled", timesteps=6))
    document = profile(path, batch=2, iters=10, warmup=1)
    _check_account(document, path, "MatMul")
    assert "[12×16]" in document["records"][1]["part"]  # the hoisted input projection: 2 sequences x T=6 rows


def test_bad_requests_are_one_line_errors(invoke, tiny_models, tmp_path):
    missing = invoke("bench", "profile", tmp_path / "missing.onnx")
    assert missing.exit_code == 2 and "missing.onnx" in missing.output
    assert invoke("bench", "profile", tiny_models["step"], "--batch", "0").exit_code == 2


def test_a_provider_that_cannot_run_is_an_error_not_a_fallback(tiny_models):
    from snudeploy.runtime import cuda_unavailable_reason

    if cuda_unavailable_reason() is None:
        pytest.skip("CUDA runs here")
    with pytest.raises(ProviderError):
        profile(tiny_models["step"], provider="cuda", iters=1, warmup=0)
