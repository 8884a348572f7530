"""`snudeploy bench train`: schema and table without training; a tiny real run in the slow lane."""

import json

import pytest
from needs import need

from snudeploy.bench import schema, tables


def _record(**changes):
    record = {f.name: None for f in schema.TRAIN}
    record.update(label="SNU", network="snu", units=[250, 250, 10], parameters=261_510, dataset="fashion-mnist",
                  train_samples=60000, test_samples=10000, timesteps=20, batch=15, optimizer="sgd", lr=0.5,
                  framework="tensorflow", xla=True, steps_per_execution=20, epochs=3,
                  epoch_seconds=[33.0, 30.0, 31.0], seconds_per_epoch=31.0, samples_per_second=1935.5,
                  test_accuracy=0.8304, ratio_to_snu=1.0, noisy=False)
    record.update(changes)
    return record


def test_train_records_are_declared_and_rendered():
    assert schema.RECORDS["train"] is schema.TRAIN and "train" in schema.KINDS
    assert schema._check(_record(), schema.TRAIN, "r") == []
    table = tables.train([_record(), _record(label="LSTM", network="lstm", seconds_per_epoch=140.0,
                                             ratio_to_snu=4.516, noisy=True)])
    assert "| SNU " in table and "| LSTM ! " in table and "4.52" in table and "31.0" in table


def test_bad_options_exit_2(invoke):
    result = invoke("bench", "train", "--epochs", "0")
    assert result.exit_code == 2 and "Invalid value for '--epochs'" in result.stderr


@pytest.mark.slow
@pytest.mark.train
def test_bench_train_times_both_networks_in_one_run(invoke, tmp_path):
    need("plots")
    out = tmp_path / "train.json"
    result = invoke("bench", "train", "--dataset", "digits", "--epochs", "2", "--limit", "300", "--json", out,
                    "--plot", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert schema.validate(document) == [] and document["kind"] == "train"
    snu, lstm = document["records"]
    assert (snu["network"], lstm["network"]) == ("snu", "lstm") and snu["units"] == lstm["units"] == [250, 250, 10]
    assert snu["train_samples"] == lstm["train_samples"] == 300 and snu["batch"] == lstm["batch"] == 15
    assert len(snu["epoch_seconds"]) == len(lstm["epoch_seconds"]) == 2 and snu["ratio_to_snu"] == 1.0
    assert lstm["ratio_to_snu"] == pytest.approx(lstm["seconds_per_epoch"] / snu["seconds_per_epoch"], rel=1e-3)
    assert 0 <= snu["test_accuracy"] <= 1 and lstm["parameters"] > 4 * snu["parameters"]
    assert document["environment"]["cpu_model"] and (snu["xla"], lstm["xla"]) == (True, False)
    assert "LSTM/SNU epoch-time ratio" in result.stdout and "| SNU" in result.stdout
    assert (tmp_path / "plots" / "train_epochs.png").read_bytes()[:4] == b"\x89PNG"
