"""Sequences end to end: masked training equals streaming each sequence for its own length; every readout
trains, exports validated and streams with the accuracy it trained to; int8 where the encoding takes spikes."""

import json

import numpy as np
import pytest

from snudeploy import datasets
from snudeploy.encoding import Delta, Direct
from snudeploy.errors import ConfigurationError, DatasetError, MissingExtraError
from snudeploy.readouts import Readout
from snudeploy.spec import ModelSpec, Recipe

CLASSES, FEATURES = 3, 3


def waves(n, seed, max_length=12):
    """Noisy sinusoids whose frequency is the class, of lengths 5..max_length, zero-padded; ``(x, y, lengths)``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    lengths = rng.integers(5, max_length + 1, n)
    t = np.arange(max_length)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, FEATURES))
    x = np.sin(0.5 * (1 + y[:, None, None]) * t + phase) + rng.normal(0, 0.1, (n, max_length, FEATURES))
    x[t[..., 0] >= lengths[:, None]] = 0
    return x.astype(np.float32), y, lengths


@pytest.fixture(scope="module")
def waves_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("waves") / "waves.npz"
    (x_train, y_train, l_train), (x_test, y_test, l_test) = waves(90, 0), waves(40, 1)
    np.savez(path, x_train=x_train, y_train=y_train, lengths_train=l_train, x_test=x_test, y_test=y_test,
             lengths_test=l_test)
    return path


def spec_for(data, encoding, readout, hidden=(16,), epochs=3):
    encoding = encoding.fit(data.x_train, data.lengths_train)
    readout = Readout.from_dict(readout)
    return ModelSpec.dense(encoding.channels(FEATURES), CLASSES, hidden=hidden, encoding=encoding, readout=readout,
                           recipe=Recipe(epochs=epochs, batch_size=10, optimizer="adam", lr=1e-2, loss=readout.loss))


def test_sequence_files_load_with_their_lengths_and_bad_ones_are_refused(waves_file, tmp_path):
    data = datasets.load_data(None, waves_file)
    assert data.sequences and data.x_train.shape == (90, 12, 3) and data.lengths_test.shape == (40,)
    plain = tmp_path / "plain.npz"  # without lengths: sequences only when the encoder says so
    np.savez(plain, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test)
    assert not datasets.load_data(None, plain).sequences and datasets.load_data(None, plain, sequences=True).sequences
    for change, match in ((dict(lengths_train=np.full(90, 13)), "lengths_train"),
                          (dict(x_test=np.zeros((40, 12))), "x_test"),
                          (dict(x_test=np.full((40, 12, 3), np.nan, np.float32)), "NaN"),
                          (dict(y_train=np.zeros(89, np.int64)), "y_train")):
        bad = tmp_path / "bad.npz"
        np.savez(bad, **{**dict(np.load(waves_file)), **change})
        with pytest.raises(DatasetError, match=match):
            datasets.load_data(None, bad)


def test_sequence_sets_need_the_data_extra(monkeypatch):
    monkeypatch.setattr("snudeploy.extras.installed", lambda module: module != "sktime")
    with pytest.raises(MissingExtraError, match=r"\[data\]"):
        datasets.load_data("japanese-vowels")


@pytest.mark.train
@pytest.mark.parametrize("readout", ["mean_rate", "spike_count", {"kind": "membrane", "reduce": "max"}])
def test_a_masked_batch_gives_what_each_sequence_gives_alone(waves_file, readout):
    import tensorflow as tf

    from snudeploy.checkpoint import build_model
    from snudeploy.training import MASK_VALUE

    data = datasets.load_data(None, waves_file)
    spec = spec_for(data, Direct(), readout)
    tf.keras.utils.set_random_seed(0)
    model = build_model(spec, masked=True)
    x = spec.encoding.encode(data.x_test[:8], "test", data.lengths_test[:8])
    padded = x.copy()
    padded[np.arange(12)[None, :] >= data.lengths_test[:8, None]] = MASK_VALUE
    batch = model(tf.constant(padded), training=False).numpy()
    for i, n in enumerate(data.lengths_test[:8]):
        alone = model(tf.constant(x[i:i + 1, :n]), training=False).numpy()[0]
        np.testing.assert_allclose(batch[i], alone, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("encoding, readout", [
    (Direct(), "mean_rate"), (Direct(), "spike_count"), (Delta(), {"kind": "membrane", "reduce": "last"}),
    (Direct(), {"kind": "membrane", "reduce": "max"})])
def test_every_readout_trains_exports_validated_and_streams_as_it_trained(waves_file, tmp_path, encoding, readout):
    from snudeploy.bench import accuracy
    from snudeploy.converters import export_files
    from snudeploy.runtime import StreamingSession
    from snudeploy.runtime.evaluate import feed_sequences
    from snudeploy.training import train_checkpoint

    data = datasets.load_data(None, waves_file)
    spec = spec_for(data, encoding, readout)
    metrics = train_checkpoint(spec, data, tmp_path / "ckpt", verbose=0)
    files = export_files(tmp_path / "ckpt", "all", tmp_path / "onnx", dataset=waves_file)
    assert {f.format for f in files} == {"step", "unrolled", "loop", "customop"}
    assert all(f.validation["passed"] and f.validation["prediction_agreement"] == 1.0 for f in files)
    assert all(f.info.readout == spec.readout and f.info.encoding == spec.encoding for f in files)
    correct = []
    for name in ("step.onnx", "customop_step.onnx"):
        result = feed_sequences(StreamingSession(tmp_path / "onnx" / name), data.x_test, data.lengths_test)
        correct.append(int((result.predictions == data.y_test).sum()))
    assert correct[0] == correct[1]
    assert abs(correct[0] - round(metrics["test_accuracy"] * len(data.y_test))) <= 1
    record = accuracy.run(accuracy.plan([tmp_path / "onnx" / "step.onnx"], data=waves_file)).document["records"][0]
    assert record["accuracy"] * len(data.y_test) == pytest.approx(correct[0])  # each sample for its own length
    assert record["anytime_accuracy"][-1] == record["accuracy"] and len(record["anytime_accuracy"]) == 12


@pytest.mark.slow
@pytest.mark.train
def test_spike_encodings_quantize_exactly_and_direct_is_refused_with_its_reason(waves_file, tmp_path):
    from snudeploy.quantization import quantize
    from snudeploy.training import train_checkpoint

    data = datasets.load_data(None, waves_file)
    train_checkpoint(spec_for(data, Delta(), "membrane", epochs=1), data, tmp_path / "delta", verbose=0)
    report = quantize(tmp_path / "delta", "ptq", tmp_path / "int8", data=waves_file)
    for graph in report["graphs"].values():
        assert graph["exact_reference"]["spikes_equal"] and graph["exact_reference"]["states_equal"]
    assert json.loads((tmp_path / "int8" / "quantization.json").read_text())["method"] == "ptq"
    train_checkpoint(spec_for(data, Direct(), "membrane", epochs=1), data, tmp_path / "direct", verbose=0)
    with pytest.raises(ConfigurationError, match="real values .* different CPUs"):
        quantize(tmp_path / "direct", "ptq", tmp_path / "refused", data=waves_file)
    assert not (tmp_path / "refused").exists()
