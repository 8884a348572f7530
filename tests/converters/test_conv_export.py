"""Convolutional networks in every format, against the numpy oracle; and export of your own Keras model.

TensorFlow-free tests build random small conv networks (``snu_models.conv_network``: both
paddings, strides 1 and 2, sum and average pooling, flatten) and compare every ONNX format,
run by the runtime, with ``snu_reference.snu_network``. ``train`` tests export Keras models
built by hand through ``snudeploy.export(model, ...)`` and stream them.
"""

import numpy as np
import pytest
from snu_models import conv_network, model_bytes, spikes

from snu_reference import snu_network
from snudeploy.runtime import Engine, ReferenceEngine, StreamingSession, rollout

NETWORKS = {
    "same-s1-sum": dict(padding="same", strides=(1, 1), pool="sum_pool2d"),
    "same-s2-avg": dict(padding="same", strides=(2, 1), pool="avg_pool2d"),
    "valid-s1-avg": dict(padding="valid", strides=(1, 2), pool="avg_pool2d"),
    "valid-s2-sum": dict(padding="valid", strides=(2, 2), pool="sum_pool2d"),
}
GRAPHS = [("step", "step"), ("customop", "step"), ("customop", "sequence"), ("unrolled", "sequence")]
SHAPE, T = (16, 17, 2), 6


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("format, graph", GRAPHS, ids=[f"{f}-{g}" for f, g in GRAPHS])
def test_every_format_equals_the_numpy_oracle(name, format, graph):
    network = conv_network(SHAPE, 3, **NETWORKS[name])
    payload = model_bytes(network, graph, format=format, timesteps=T if format == "unrolled" else None)
    x = spikes(np.random.default_rng(0), (5, T, *SHAPE), p=0.4)
    expected, states = snu_network(x, network)
    result = rollout(Engine(payload), x)
    last = len(network.layers) - 1
    assert 0.05 < expected[-1].mean() < 0.95  # the output layer spikes, and not always
    assert np.mean(result.spikes[last] == expected[-1]) >= 0.9999  # numpy and ONNX Runtime sum convolutions apart
    stateful = [i for i, _ in network.stateful()]
    for i, (y, s) in zip(stateful, states):
        np.testing.assert_allclose(result.states[f"l{i}_s"], s, atol=1e-4)


@pytest.mark.parametrize("format, graph", GRAPHS[:3], ids=[f"{f}-{g}" for f, g in GRAPHS[:3]])
def test_onnx_reference_agrees_with_onnx_runtime(format, graph):
    payload = model_bytes(conv_network(SHAPE, 4), graph, format=format)
    x = spikes(np.random.default_rng(1), (3, 4, *SHAPE), p=0.4)
    ours, exact = rollout(Engine(payload), x), rollout(ReferenceEngine(payload), x)
    for layer, value in exact.spikes.items():
        assert np.mean(ours.spikes[layer] == value) >= 0.999


def test_the_session_streams_images_channels_last_or_flattened():
    network = conv_network(SHAPE, 5)
    session = StreamingSession(model_bytes(network, "step", format="step"))
    assert session.input_shape == SHAPE and session.features == 16 * 17 * 2
    x = spikes(np.random.default_rng(2), (2, T, *SHAPE), p=0.4)
    a = session.open(2)
    shaped = [session.step(x[:, t], a) for t in range(T)]
    b = session.open(2)
    flat = [session.step(x[:, t].reshape(2, -1), b) for t in range(T)]
    np.testing.assert_array_equal(np.stack(shaped), np.stack(flat))
    np.testing.assert_array_equal(np.stack(shaped, axis=1), snu_network(x, network)[0][-1])
    assert session.snapshot(a[0]).states["l0_y"].shape == network.layers[0].output_shape


# -- your own Keras model (TensorFlow) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras():
    tf = pytest.importorskip("tensorflow")
    return tf.keras


def _seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        weight.assign(rng.uniform(0.6, 1.2, shape) if len(shape) == 1 else rng.normal(0.12, 0.45, shape))
    return model


@pytest.mark.train
def test_a_hand_built_keras_conv_model_exports_and_streams_like_keras(keras, tmp_path):
    from snudeploy import export
    from snudeploy.layers import SNU, SNUConv2D, SumPooling2D

    model = _seeded(keras.Sequential([
        keras.Input(shape=(None, 12, 12, 1)),
        SNUConv2D(6, 3, decay=0.9, g="leaky_relu"),
        SumPooling2D(2),
        SNUConv2D(8, 3, strides=2, padding="valid", decay=0.8, g="leaky_relu"),
        keras.layers.TimeDistributed(keras.layers.Flatten()),
        keras.layers.Dropout(0.2),
        SNU(16, decay=0.9, g="leaky_relu", return_sequences=True),
        SNU(4, decay=0.9, g="leaky_relu", return_sequences=True),
        keras.layers.GlobalAveragePooling1D()]))
    x = (np.random.default_rng(3).random((24, 8, 12, 12, 1)) < 0.4).astype(np.float32)
    path = export(model, "all", tmp_path, inputs=x, labels=np.arange(24) % 4)
    session = StreamingSession(path / "step.onnx")
    assert session.input_shape == (12, 12, 1)
    assert [layer.kind for layer in session.info.layers] == ["snu_conv2d", "sum_pool2d", "snu_conv2d", "flatten",
                                                             "snu", "snu"]
    ids = session.open(len(x))
    for t in range(x.shape[1]):
        session.step(x[:, t], ids)
    expected = model(x, training=False).numpy()
    np.testing.assert_array_equal(session.predict(ids), expected.argmax(axis=1))
    np.testing.assert_allclose(session.rates(ids), expected, atol=1e-6)
    for name in ("unrolled.onnx", "loop.onnx", "customop.onnx"):
        np.testing.assert_allclose(StreamingSession(path / name).run(x), expected, atol=1e-6)


@pytest.mark.train
def test_the_tutorial_model_exports_unchanged(keras, tmp_path):
    """docs/training.md's model (the neuroaikit tutorial's, only the import changed)."""
    from snudeploy import export
    from snudeploy.activations import leaky_rel
    from snudeploy.layers import SNU

    model = _seeded(keras.Sequential([
        keras.Input(shape=(None, 28 * 28)),
        SNU(250, decay=0.9, g=leaky_rel, return_sequences=True),
        SNU(250, decay=0.9, g=leaky_rel, return_sequences=True),
        SNU(10, decay=0.9, g=leaky_rel, return_sequences=True),
        keras.layers.GlobalAveragePooling1D()]), seed=1)
    for weight in model.weights:
        if len(weight.shape) == 2:
            weight.assign(weight.numpy() * 0.1)
    x = (np.random.default_rng(4).random((16, 10, 784)) < 0.1).astype(np.float32)
    step = export(model, "step", tmp_path / "step.onnx", inputs=x)
    np.testing.assert_allclose(StreamingSession(step).run(x), model(x).numpy(), atol=1e-6)


@pytest.mark.train
@pytest.mark.parametrize("make, message", [
    (lambda k: k.layers.Dense(4), "Layer 'dense.*' \\(Dense\\) is not supported. snudeploy exports snudeploy.layers"),
    (lambda k: k.layers.LSTM(4, return_sequences=True), "\\(LSTM\\) is not supported"),
    (lambda k: k.layers.TimeDistributed(k.layers.MaxPooling2D(2)), "\\(TimeDistributed\\(MaxPooling2D\\)\\) is not"),
])
def test_an_unsupported_layer_is_one_line_naming_it_and_what_is_supported(keras, tmp_path, make, message):
    from snudeploy import export
    from snudeploy.errors import ExportError
    from snudeploy.layers import SNU, SNUConv2D

    first = SNUConv2D(2, 3) if "Pooling" in message else SNU(4, return_sequences=True)
    shape = (None, 6, 6, 1) if "Pooling" in message else (None, 8)
    model = keras.Sequential([keras.Input(shape=shape), first, make(keras)])
    with pytest.raises(ExportError, match=message) as caught:
        export(model, "step", tmp_path, inputs=np.zeros((2, 3, *shape[1:]), np.float32))
    assert "\n" not in str(caught.value)


@pytest.mark.train
def test_a_keras_model_needs_matching_inputs(keras, tmp_path):
    from snudeploy import export
    from snudeploy.errors import ConfigurationError
    from snudeploy.layers import SNU

    model = keras.Sequential([keras.Input(shape=(None, 8)), SNU(3, return_sequences=True)])
    with pytest.raises(ConfigurationError, match="needs `inputs`"):
        export(model, "step", tmp_path)
    with pytest.raises(ConfigurationError, match=r"`inputs` must be numbers of shape \[N, T, 8\]"):
        export(model, "step", tmp_path, inputs=np.zeros((2, 8)))
