"""The bench commands on the trained digits network, against `snudeploy run`, Keras and an LSTM."""

import json
import subprocess
import sys

import numpy as np
import pytest

from snudeploy.bench import schema

pytestmark = pytest.mark.train


def test_accuracy_equals_run_and_keras_on_the_same_encoded_data(invoke, random_digits_checkpoint, digits_exports,
                                                                 tmp_path):
    import tensorflow as tf

    from snudeploy import datasets, load_checkpoint
    from snudeploy.spec import ModelSpec

    digits_checkpoint = random_digits_checkpoint
    step, sequence = digits_exports["step/step"], digits_exports["customop/sequence"]
    out = tmp_path / "accuracy.json"
    result = invoke("bench", "accuracy", step, sequence, "--tf", digits_checkpoint, "--json", out)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert schema.validate(document) == []
    step_row, sequence_row, keras_row = document["records"]

    ran = invoke("run", step, "--json", tmp_path / "run.json")
    assert ran.exit_code == 0, ran.output
    run_accuracy = json.loads((tmp_path / "run.json").read_text())["accuracy"]

    _, _, x_test, y_test = datasets.load("digits")
    spikes = ModelSpec.load(digits_checkpoint).encoding.encode(x_test, "test")
    rates = load_checkpoint(digits_checkpoint)(tf.cast(spikes, tf.float32), training=False).numpy()
    keras_accuracy = float(np.mean(rates.argmax(axis=1) == y_test))

    assert step_row["samples"] == keras_row["samples"] == len(y_test) == 360
    assert step_row["accuracy"] == run_accuracy == sequence_row["accuracy"]
    assert keras_row["accuracy"] == step_row["tf_accuracy"] == keras_accuracy and keras_row["format"] == "keras"
    # ONNX Runtime and TensorFlow sum in different orders: a membrane within float rounding of its threshold
    # can flip a spike (the exporter's gate allows 1e-4 of spikes, checked on 64 samples here), so allow 1 % of
    # predictions to differ; the accuracies then differ by at most the disagreeing fraction.
    for row in (step_row, sequence_row):
        assert row["agreement_with_tf"] >= 0.99
        assert abs(row["accuracy"] - keras_accuracy) <= 1 - row["agreement_with_tf"] + 1e-9
    assert step_row["synops_per_sample"] < step_row["dense_macs_per_sample"]
    assert step_row["spikes_per_sample"] == pytest.approx(keras_row["spikes_per_sample"], rel=0.01)
    assert step_row["anytime_accuracy"][-1] == step_row["accuracy"]


def test_latency_times_tensorflow_and_the_lstm_in_the_same_run(random_digits_checkpoint, digits_lstm, digits_exports,
                                                                tmp_path):
    digits_checkpoint = random_digits_checkpoint
    out = tmp_path / "latency.json"
    args = ["bench", "latency", digits_exports["step/step"], digits_exports["customop/sequence"], "--batch", "1,4",
            "--iters", "3", "--warmup", "1", "--threads", "1", "--tf", digits_checkpoint, "--lstm", digits_lstm,
            "--json", out]
    # A fresh process: TensorFlow's thread count can only be set before it first runs.
    done = subprocess.run([sys.executable, "-m", "snudeploy.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(out.read_text())
    assert schema.validate(document) == []
    assert document["environment"]["threads"]["tensorflow"]["intra_op"] == 1
    rows = {(r["label"], r["framework"], r["network"], r["mode"], r["batch"]): r for r in document["records"]}
    name, lstm = digits_checkpoint.name, digits_lstm.name
    for batch in (1, 4):
        for mode in ("step", "sequence"):
            keras = rows[(f"{name} (keras)", "tensorflow", "snu", mode, batch)]
            assert keras["ratio_to_tf"] == 1.0 and keras["provider"] == "tensorflow-cpu"
            assert rows[(f"{lstm} (keras)", "tensorflow", "lstm", mode, batch)]["ratio_to_tf"] > 0
            assert rows[(f"{lstm} (onnx LSTM)", "onnxruntime", "lstm", mode, batch)]["ratio_to_tf"] > 0
        assert rows[("step.onnx", "onnxruntime", "snu", "step", batch)]["ratio_to_tf"] > 0
        assert rows[("customop.onnx", "onnxruntime", "snu", "sequence", batch)]["timesteps"] == 20
    assert "x TF" in done.stdout and "(onnx LSTM)" in done.stdout
