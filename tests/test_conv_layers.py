"""The convolutional SNU and pooling layers in Keras against the numpy oracle (``snu_reference``)."""

import numpy as np
import pytest

from snu_reference import conv2d, pool2d, snu_network

pytestmark = pytest.mark.train
tf = pytest.importorskip("tensorflow")

from snudeploy.errors import ConfigurationError  # noqa: E402
from snudeploy.layers import AvgPooling2D, SNUConv2D, SumPooling2D  # noqa: E402

CASES = [dict(padding="same", strides=1), dict(padding="same", strides=2), dict(padding="valid", strides=1),
         dict(padding="valid", strides=2), dict(padding="same", strides=(2, 1), kernel_size=(3, 2))]


def _layer_and_input(case, seed=0, shape=(9, 10, 3), filters=5, batch=3, steps=7):
    rng = np.random.default_rng(seed)
    layer = SNUConv2D(filters, case.get("kernel_size", 3), strides=case["strides"], padding=case["padding"],
                      decay=0.9, g="leaky_relu")
    x = (rng.random((batch, steps, *shape)) < 0.4).astype(np.float32)
    layer(x)  # build
    layer.kernel.assign(rng.normal(0.15, 0.5, layer.kernel.shape).astype(np.float32))
    layer.threshold.assign(rng.uniform(0.6, 1.2, layer.threshold.shape).astype(np.float32))
    return layer, x


def _oracle(layer, x):
    from snu_reference import _run

    out_shape = tuple(layer.compute_output_shape((None, None, *x.shape[2:]))[2:])
    return _run(x, lambda frame: conv2d(frame, layer.kernel.numpy(), layer.strides, layer.padding), out_shape,
                layer.threshold.numpy(), layer.decay, layer.g_name, layer.activation_name, None, False, None, None)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv_snu_matches_the_numpy_equations(case):
    layer, x = _layer_and_input(case)
    got = layer(x).numpy()
    expected, y, s = _oracle(layer, x)
    assert got.shape == expected.shape
    assert np.mean(got == expected) >= 0.9999  # TF's and numpy's convolutions sum in different orders
    assert 0.05 < got.mean() < 0.95 and set(np.unique(got)) <= {0.0, 1.0}
    seq, y_tf, s_tf = layer(x, return_state=True)
    np.testing.assert_allclose(s_tf.numpy(), s, atol=1e-4)


def test_training_and_inference_compute_the_same_layer():
    """The convolution of all T frames runs before the loop in both; gradients reach the kernel and threshold."""
    layer, x = _layer_and_input(CASES[0])
    np.testing.assert_array_equal(layer(x, training=True).numpy(), layer(x, training=False).numpy())
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(layer(x, training=True) - 0.3))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_initial_state_continues_a_sequence():
    layer, x = _layer_and_input(CASES[1])
    whole = layer(x).numpy()
    first, y, s = layer(x[:, :3], return_state=True)
    rest = layer(x[:, 3:], initial_state=[y, s]).numpy()
    np.testing.assert_array_equal(np.concatenate([first.numpy(), rest], axis=1), whole)


@pytest.mark.parametrize("size", [2, (3, 2)])
def test_pooling_layers_over_any_leading_axes(size):
    x = (np.random.default_rng(1).random((2, 4, 7, 9, 3)) < 0.5).astype(np.float32)
    pair = (size, size) if isinstance(size, int) else size
    np.testing.assert_array_equal(SumPooling2D(size)(x).numpy(), pool2d(x, pair, average=False))
    np.testing.assert_allclose(AvgPooling2D(size)(x).numpy(), pool2d(x, pair, average=True), atol=1e-7)
    average = tf.keras.layers.TimeDistributed(tf.keras.layers.AveragePooling2D(pair))(x).numpy()
    np.testing.assert_allclose(AvgPooling2D(size)(x).numpy(), average, atol=1e-7)


def test_config_round_trip_and_argument_errors():
    layer = SNUConv2D(4, (3, 2), strides=2, padding="valid", decay=0.5, g="relu", activation="sigmoid")
    clone = SNUConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert SumPooling2D.from_config(SumPooling2D(3).get_config()).pool_size == (3, 3)
    for kwargs, message in ((dict(filters=0, kernel_size=3), "`filters`"),
                            (dict(filters=2, kernel_size=3, padding="full"), "`padding`"),
                            (dict(filters=2, kernel_size=[1, 2, 3]), "`kernel_size`"),
                            (dict(filters=2, kernel_size=3, g="tanh"), "`g`")):
        with pytest.raises(ConfigurationError, match=message):
            SNUConv2D(**kwargs)


def test_a_checkpoint_network_of_every_kind_runs_like_the_oracle(tmp_path):
    """A conv spec built into Keras (checkpoint.build_model) computes what the numpy oracle computes."""
    from checkpoints import random_conv_checkpoint
    from snu_models import conv_network

    from snudeploy.checkpoint import load_checkpoint

    for pool in ("sum_pool2d", "avg_pool2d"):
        folder = random_conv_checkpoint(tmp_path / pool, (8, 8, 2), pool=pool)
        network = conv_network((8, 8, 2), 0, classes=10, pool=pool)
        x = (np.random.default_rng(2).random((4, 6, 8, 8, 2)) < 0.4).astype(np.float32)
        model = load_checkpoint(folder)
        spikes, _ = snu_network(x, network)
        np.testing.assert_allclose(model(x).numpy(), spikes[-1].mean(axis=1), atol=1e-6)
