"""SNU layers against the numpy oracle of DESIGN.md's equations."""

import numpy as np
import pytest
from needs import need
from snu_reference import snu_layer

pytestmark = pytest.mark.train
need("train")

import tensorflow as tf  # noqa: E402

from snudeploy import activations  # noqa: E402
from snudeploy.errors import ConfigurationError  # noqa: E402
from snudeploy.layers import SNU, SNUCell, sSNU  # noqa: E402

VARIANTS = [
    dict(g="identity", activation="step"),
    dict(g="leaky_relu", activation="step"),
    dict(g="relu", activation="step"),
    dict(g="leaky_relu", activation="sigmoid"),
    dict(g="leaky_relu", activation="step", recurrent=True),
    dict(g="identity", activation="step", lateral_inhibition=True),
    dict(g="leaky_relu", activation="sigmoid", recurrent=True, lateral_inhibition=True),
]


def _layer_and_input(variant, batch=4, steps=12, features=16, units=8, seed=0):
    rng = np.random.default_rng(seed)
    layer = SNU(units, decay=0.9, return_sequences=True, **variant)
    x = (rng.random((batch, steps, features)) < 0.4).astype(np.float32)
    layer(x)  # build
    cell = layer.cell
    cell.kernel.assign(rng.normal(0, 0.6, cell.kernel.shape).astype(np.float32))
    cell.threshold.assign(rng.uniform(0.5, 1.5, cell.threshold.shape).astype(np.float32))
    if cell.recurrent:
        cell.recurrent_kernel.assign(rng.normal(0, 0.4, cell.recurrent_kernel.shape).astype(np.float32))
    return layer, x


def _oracle(layer, x):
    cell = layer.cell
    return snu_layer(x, cell.kernel.numpy(), cell.threshold.numpy(), cell.decay, cell.g_name,
                     cell.activation_name, cell.recurrent_kernel.numpy() if cell.recurrent else None,
                     cell.lateral_inhibition)[0]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={v[k]}" for k in v))
def test_matches_numpy_equations(variant):
    layer, x = _layer_and_input(variant)
    got = layer(x).numpy()
    expected = _oracle(layer, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if variant["activation"] == "step":
        assert set(np.unique(got)) <= {0.0, 1.0} and 0 < got.mean() < 1  # real spikes, not all-or-nothing


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.get("lateral_inhibition")])
def test_lateral_inhibition_is_per_sample(variant):
    """A sample's outputs do not depend on its batch. Spikes must be equal; soft (sigmoid) outputs may differ
    by float rounding, because TensorFlow's matmul kernels sum in a batch-size-dependent order (1.2e-7
    measured on AVX2): 1e-6 is a few ulps of outputs in [0, 1], far below any coupling between samples."""
    layer, x = _layer_and_input(variant, batch=6)
    batched = layer(x).numpy()
    for i in range(len(x)):
        alone = layer(x[i:i + 1]).numpy()
        if variant["activation"] == "step":
            np.testing.assert_array_equal(batched[i:i + 1], alone)
        else:
            np.testing.assert_allclose(batched[i:i + 1], alone, rtol=0, atol=1e-6)


def test_surrogate_gradient_is_tanh_derivative():
    x = tf.constant([-2.0, -0.5, 0.0, 0.3, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = activations.step_function(x)
    np.testing.assert_array_equal(y.numpy(), [0, 0, 0, 1, 1])
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 1 - np.tanh(x.numpy()) ** 2, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS[:2] + VARIANTS[4:6])
def test_gradients_reach_every_weight(variant):
    layer, x = _layer_and_input(variant)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(layer(x) - 0.3))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_reference_call_shape_and_soft_cell():
    layer = SNU(250, decay=0.9, g=activations.leaky_rel, return_sequences=True)
    assert layer.cell.g_name == "leaky_relu" and layer.cell.activation_name == "step"
    assert layer.return_sequences
    assert sSNU(5).cell.activation_name == "sigmoid"


def test_config_round_trip():
    cell = SNUCell(7, decay=0.5, g="relu", activation="sigmoid", recurrent=True, lateral_inhibition=True)
    clone = SNUCell.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
    layer = SNU(3, decay=0.7, g="leaky_relu", return_sequences=True)
    restored = tf.keras.layers.RNN.from_config(layer.get_config())
    assert restored.cell.get_config() == layer.cell.get_config()


@pytest.mark.parametrize("kwargs, message", [
    (dict(units=0), "`units`"), (dict(units=3, decay=1.5), "`decay`"),
    (dict(units=3, g="tanh"), "`g`"), (dict(units=3, activation="softmax"), "`activation`")])
def test_invalid_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        SNUCell(**kwargs)
