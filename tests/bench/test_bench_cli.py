"""`snudeploy bench latency|accuracy` on tiny TensorFlow-free models: JSON schema, tables, plots, errors."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from needs import need
from onnx import TensorProto, helper

from snudeploy.bench import schema
from snudeploy.runtime import cuda_unavailable_reason


def test_latency_json_follows_the_schema(invoke, tiny_models, tmp_path):
    out = tmp_path / "latency.json"
    result = invoke("bench", "latency", tiny_models["step"], tiny_models["sequence"], tiny_models["unrolled"],
                    "--batch", "1,3", "--iters", "3", "--warmup", "1", "--sequence", "6", "--json", out)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert schema.validate(document) == []
    assert document["kind"] == "latency" and document["schema_version"] == schema.SCHEMA_VERSION
    rows = {(r["label"], r["mode"], r["batch"]) for r in document["records"]}
    assert rows == {(name, mode, batch) for batch in (1, 3) for name, mode in
                    [("step.onnx", "step"), ("step.onnx", "sequence"), ("sequence.onnx", "sequence"),
                     ("unrolled.onnx", "sequence"), ("step.onnx (floor)", "step")]}
    assert {r["threads"] for r in document["records"]} == {1, 2}  # the default --threads 1,2
    key = lambda r: (r["batch"], r["threads"])  # noqa: E731
    runtime_step = {key(r): r for r in document["records"] if (r["label"], r["mode"]) == ("step.onnx", "step")}
    floors = {key(r): r for r in document["records"] if r["api"] == "bare IOBinding (floor)"}
    assert runtime_step.keys() == floors.keys()
    for k, row in runtime_step.items():  # each runtime step row is divided by its own model's floor
        assert row["over_floor"] == pytest.approx(row["p50_us"] / floors[k]["p50_us"], rel=1e-2)
    for record in document["records"]:
        assert record["samples"] == 3 and record["ratio_to_tf"] is None
        assert record["timesteps"] == (1 if record["mode"] == "step" else 6)
        assert record["provider"] == "CPUExecutionProvider" and record["threads"] in (1, 2)
        assert record["min_us"] <= record["p50_us"] <= record["p99_us"] <= record["max_us"]
    assert document["environment"]["threads"]["tensorflow"] is None
    assert "| model" in result.stdout and "stream-steps/s" in result.stdout


def test_latency_chunk_rows_are_compared_with_k_single_steps(invoke, tiny_models, tmp_path):
    out = tmp_path / "latency.json"
    result = invoke("bench", "latency", tiny_models["step"], tiny_models["sequence"], tiny_models["unrolled"],
                    "--batch", "2", "--threads", "1", "--iters", "3", "--warmup", "1", "--chunk", "3", "--json", out)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert schema.validate(document) == [] and document["settings"]["chunk"] == 3
    rows = {(r["label"], r["mode"], r["timesteps"]): r for r in document["records"]}
    assert set(rows) == {("step.onnx", "step", 1), ("step.onnx (floor)", "step", 1), ("step.onnx", "chunk", 3),
                         ("step.onnx", "steps", 3), ("sequence.onnx", "sequence", 6), ("sequence.onnx", "step", 1),
                         ("sequence.onnx", "chunk", 3), ("sequence.onnx", "steps", 3),
                         ("unrolled.onnx", "sequence", 6)}  # a fixed-T graph takes no chunks of 3
    for label in ("step.onnx", "sequence.onnx"):
        chunk, steps = rows[label, "chunk", 3], rows[label, "steps", 3]
        assert chunk["over_steps"] == pytest.approx(chunk["p50_us"] / steps["p50_us"], rel=1e-2)
        assert chunk["throughput"] == pytest.approx(2 * 3 / (chunk["mean_us"] * 1e-6), rel=1e-2)
    assert all(r["over_steps"] is None for r in document["records"] if r["mode"] != "chunk")
    assert "chunk K=3" in result.stdout and "3 steps" in result.stdout and "/ steps" in result.stdout


def test_accuracy_json_follows_the_schema_and_formats_agree(invoke, tiny_models, tiny_data, tmp_path):
    out = tmp_path / "accuracy.json"
    result = invoke("bench", "accuracy", tiny_models["step"], tiny_models["sequence"], tiny_models["unrolled"],
                    "--dataset", "mnist", "--data", tiny_data, "--limit", "30", "--json", out)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert schema.validate(document) == []
    step, sequence, unrolled = document["records"]
    assert step["samples"] == 30 and step["timesteps"] == 6 and len(step["anytime_accuracy"]) == 6
    assert step["accuracy"] == sequence["accuracy"] == unrolled["accuracy"] == step["anytime_accuracy"][-1]
    assert all(s > 0 for s in step["spikes_per_sample"]) and step["synops_per_sample"] > 0
    assert sequence["spikes_per_sample"][:-1] == [None, None] and sequence["synops_per_sample"] is None
    assert sequence["spikes_per_sample"][-1] == step["spikes_per_sample"][-1]
    assert step["dense_macs_per_sample"] == 6 * (16 * 12 + 12 * 8 + 8 * 4)
    assert step["agreement_with_tf"] is None and "acc t=6" in result.stdout


def test_plots_are_written(invoke, tiny_models, tiny_data, tmp_path):
    need("plots")
    folder = tmp_path / "plots"
    latency = invoke("bench", "latency", tiny_models["step"], tiny_models["sequence"], "--batch", "1,2",
                     "--iters", "2", "--warmup", "0", "--plot", folder)
    accuracy = invoke("bench", "accuracy", tiny_models["step"], tiny_models["sequence"], "--dataset", "mnist",
                      "--data", tiny_data, "--plot", folder)
    assert latency.exit_code == 0 and accuracy.exit_code == 0, latency.output + accuracy.output
    for name in ("latency_vs_batch.png", "accuracy_vs_timesteps.png", "spike_raster.png"):
        png = folder / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000


def test_without_tf_or_plot_neither_tensorflow_nor_matplotlib_is_imported(tiny_models):
    code = ("import sys\nfrom snudeploy.cli.main import cli\n"
            "try:\n"
            f"    cli(['bench', 'latency', {str(tiny_models['step'])!r}, '--iters', '2'])\n"
            "except SystemExit as e:\n"
            "    assert e.code == 0, e.code\n"
            "assert 'tensorflow' not in sys.modules and 'matplotlib' not in sys.modules, 'heavy import'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_schema_validation_names_each_problem():
    record = {f.name: None for f in schema.LATENCY}
    document = {"schema_version": 1, "kind": "latency", "settings": {}, "environment": {}, "records": [record],
                "warnings": [3]}
    problems = schema.validate(document)
    assert "records[0].p50_us is null" in problems and "records[0].ratio_to_tf is null" not in problems
    assert "environment: missing 'cpu_model'" in problems and "warnings[0] is not a string" in problems
    record.update(batch=True, model=5)
    problems = schema.validate(document)
    assert "records[0].batch should be int, got bool" in problems
    assert "records[0].model should be str, got int" in problems
    assert schema.validate({"kind": "latency"})[0] == "document: missing 'schema_version'"


def _foreign_onnx(path):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save_model(helper.make_model(graph), str(path))
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("foreign", "not a snudeploy model"),
    ("garbage", "not a readable ONNX model"),
    ("empty-batch", "at least one positive integer"),
    ("batch-0", "`--batch`, expected a positive integer"),
    ("batch-huge", "`--batch`, expected a positive integer up to 65,536, got 1000000000"),
    ("bad-threads", "comma-separated positive integers"),
    ("unknown-provider", "Unknown provider"),
    ("unrolled-length", "only runs sequences of T=6"),
    ("lstm-not-lstm", "--lstm"),
])
def test_bad_latency_input_is_one_line_and_exit_2(invoke, tiny_models, tmp_path, case, message):
    step = tiny_models["step"]
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not onnx at all")
    snu_checkpoint = tmp_path / "snu"
    snu_checkpoint.mkdir()
    (snu_checkpoint / "spec.json").write_text(json.dumps({"input_features": 16, "classes": 4}))
    args = {"missing": [tmp_path / "none.onnx"], "foreign": [_foreign_onnx(tmp_path / "foreign.onnx")],
            "garbage": [garbage], "empty-batch": [step, "--batch", ","], "batch-0": [step, "--batch", "1,0"],
            "batch-huge": [step, "--batch", "1000000000"],
            "bad-threads": [step, "--threads", "one"], "unknown-provider": [step, "--provider", "tpu"],
            "unrolled-length": [tiny_models["unrolled"], "--sequence", "7"],
            "lstm-not-lstm": [step, "--lstm", snu_checkpoint]}[case]
    result = invoke("bench", "latency", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_unavailable_provider_is_an_error_not_a_fallback(invoke, tiny_models):
    if cuda_unavailable_reason() is None:
        pytest.skip("CUDA is usable on this machine")
    result = invoke("bench", "latency", tiny_models["step"], "--provider", "cpu,cuda")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: Provider cuda is not available") and result.stdout == ""


def test_bad_accuracy_input_is_one_line_and_exit_2(invoke, tiny_models, tmp_path):
    wide = tmp_path / "wide.npz"
    rng = np.random.default_rng(0)
    np.savez(wide, x_train=rng.random((4, 5, 5)), y_train=np.zeros(4, int), x_test=rng.random((4, 5, 5)),
             y_test=np.zeros(4, int))
    result = invoke("bench", "accuracy", tiny_models["step"], "--dataset", "mnist", "--data", wide)
    assert result.exit_code == 2 and "expects 16 input features" in result.stderr
    result = invoke("bench", "accuracy", tmp_path / "none.onnx", "--dataset", "mnist", "--data", wide)
    assert result.exit_code == 2 and result.stderr.startswith("Error: Model file")
