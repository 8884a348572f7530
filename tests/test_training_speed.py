"""The training fast path: hoisted W x, chunked input pipeline, compile settings (docs/training.md#speed).

The hoisted path must compute what the cell computes (outputs equal, gradients equal to
float rounding), leave inference on the plain Keras loop that exports are validated
against, and keep Keras 3 weight files addressed as before (``layers/rnn*``). The input
pipeline must yield the batches of the one-batch-per-hand-over generator it replaced.
"""

import numpy as np
import pytest
from needs import need

pytestmark = pytest.mark.train
need("train")

import tensorflow as tf  # noqa: E402

from test_layers import VARIANTS, _layer_and_input  # noqa: E402

from snudeploy.layers import RNN, SNU, SNUCell  # noqa: E402
from snudeploy.training import batches  # noqa: E402


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={v[k]}" for k in v))
def test_hoisted_training_pass_computes_what_the_cell_computes(variant):
    layer, x = _layer_and_input(variant)

    def run(training):
        with tf.GradientTape() as tape:
            out = layer(x, training=training)
            loss = tf.reduce_mean(tf.square(out - 0.3))
        return out.numpy(), [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]

    (hoisted, hoisted_grads), (plain, plain_grads) = run(True), run(False)
    np.testing.assert_allclose(hoisted, plain, atol=1e-6)
    for a, b in zip(hoisted_grads, plain_grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_hoisted_path_returns_the_last_step_without_return_sequences():
    layer = SNU(5, decay=0.9, g="leaky_relu")
    x = (np.random.default_rng(0).random((3, 7, 4)) < 0.5).astype(np.float32)
    layer(x)
    layer.cell.kernel.assign(np.full((4, 5), 0.6, np.float32))
    np.testing.assert_array_equal(layer(x, training=True).numpy(), layer(x, training=False).numpy())


def test_only_training_takes_the_hoisted_path(monkeypatch):
    layer, x = _layer_and_input(VARIANTS[1])
    steps = []
    call = SNUCell.call
    monkeypatch.setattr(SNUCell, "call", lambda self, *a, **k: steps.append(1) or call(self, *a, **k))
    layer(x, training=True)
    assert not steps
    layer(x, training=False)
    layer(x)
    assert steps  # the cell's own call, step by step: what exports are validated against


def test_layer_keeps_its_keras_name_and_config():
    """Keras 3 addresses weights by class name: ``RNN`` keeps checkpoints' ``layers/rnn`` paths."""
    layer = SNU(3, decay=0.7, g="leaky_relu", return_sequences=True)
    assert type(layer).__name__ == "RNN" and isinstance(layer, tf.keras.layers.RNN)
    restored = RNN.from_config(layer.get_config())
    assert restored.cell.get_config() == layer.cell.get_config() and restored.return_sequences


def _all(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_batches_are_sorted_slices_of_one_permutation_per_epoch():
    rng = np.random.default_rng(1)
    spikes, labels = rng.integers(0, 2, (107, 3, 5), dtype=np.uint8), rng.integers(0, 4, 107)
    dataset = batches(spikes, labels, 4, 15, shuffle=True, seed=3, chunk=3)
    order = np.random.default_rng(3)
    for _ in range(2):  # each iteration (epoch) draws the next permutation
        expected = order.permutation(107)
        got = _all(dataset)
        assert len(got) == dataset.cardinality() == 8 and [len(x) for x, _ in got] == [15] * 7 + [2]
        for i, (x, y) in enumerate(got):
            index = np.sort(expected[i * 15:(i + 1) * 15])
            np.testing.assert_array_equal(x, spikes[index].astype(np.float32))
            np.testing.assert_array_equal(y.argmax(1), labels[index])


def test_shards_cut_each_global_batch_into_replica_batches():
    rng = np.random.default_rng(2)
    spikes, labels = rng.integers(0, 2, (100, 2, 3), dtype=np.uint8), rng.integers(0, 3, 100)
    whole = _all(batches(spikes, labels, 3, 20, shuffle=True, seed=5))  # global batch 20 = 4 replicas x 5
    pipelines = [_all(batches(spikes, labels, 3, 5, shuffle=True, seed=5, shard=(4, 2 * p, 2), chunk=3))
                 for p in range(2)]
    assert [len(p) for p in pipelines] == [10, 10]  # 5 steps x 2 replicas each
    for step, (x, _) in enumerate(whole):
        parts = [pipelines[p][2 * step + r][0] for p in range(2) for r in range(2)]
        assert all(len(part) == 5 for part in parts)
        assert sorted(map(bytes, np.concatenate(parts))) == sorted(map(bytes, x))
