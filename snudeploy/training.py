"""Training and evaluation of SNU (and LSTM baseline) networks on rate-encoded data.

Spikes stay uint8 until a batch is fed: a ``tf.data`` generator slices the encoded array
and casts per batch, so a full 60k x 20 x 784 run holds ~1 GB of spikes, not ~4 GB.
"""

from __future__ import annotations

import logging
import platform
import sys
import time

import numpy as np

from . import __version__
from .encoding import Encoding
from .spec import ModelSpec, Recipe

log = logging.getLogger("snudeploy.train")

# Datasets may carry their own defaults; MNIST and Fashion-MNIST use the seed recipe exactly.
# Digits has 64 inputs instead of 784: with the seed's 6 spikes per pixel the encoding noise
# dominates (~90 % test accuracy at best); 15 spikes and Adam reach ~97 % in ~25 s.
DATASET_DEFAULTS = {
    "digits": (Encoding(timesteps=20, max_spikes=15.0), Recipe(epochs=20, batch_size=15, optimizer="adam", lr=3e-3)),
}


def dataset_defaults(dataset: str | None) -> tuple[Encoding, Recipe]:
    """The (encoding, recipe) a dataset trains with unless flags override them."""
    return DATASET_DEFAULTS.get(dataset, (Encoding(), Recipe()))


def batches(spikes: np.ndarray, labels: np.ndarray, classes: int, batch_size: int,
            shuffle: bool = False, seed: int = 0):
    """A ``tf.data.Dataset`` of (float32 spikes [B, T, F], one-hot [B, C]) batches."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    n = len(spikes)
    eye = np.eye(classes, dtype=np.float32)

    def generate():
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, batch_size):
            index = np.sort(order[start:start + batch_size])
            yield spikes[index], eye[labels[index]]

    signature = (tf.TensorSpec((None,) + spikes.shape[1:], tf.uint8),
                 tf.TensorSpec((None, classes), tf.float32))
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-n // batch_size)))
    return dataset.map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(4)


def compile_model(model, recipe: Recipe):
    import tensorflow as tf

    keras = tf.keras
    optimizers = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}
    model.compile(optimizer=optimizers[recipe.optimizer](learning_rate=recipe.lr), loss=recipe.loss,
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    return model


def train(spec: ModelSpec, data, verbose: int = 1, model=None):
    """Train ``spec`` on ``data`` = (x_train, y_train, x_test, y_test); return (model, metrics)."""
    import tensorflow as tf

    from .checkpoint import build_model

    recipe = spec.recipe
    x_train, y_train, x_test, y_test = data
    if recipe.limit:
        x_train, y_train = x_train[:recipe.limit], y_train[:recipe.limit]
    tf.keras.utils.set_random_seed(recipe.seed)
    train_spikes = spec.encoding.encode(x_train, "train")
    test_spikes = spec.encoding.encode(x_test, "test")
    model = model if model is not None else build_model(spec)
    compile_model(model, recipe)

    start = time.perf_counter()
    history = model.fit(batches(train_spikes, y_train, spec.classes, recipe.batch_size, True, recipe.seed),
                        epochs=recipe.epochs, shuffle=False, verbose=verbose)
    train_seconds = time.perf_counter() - start
    metrics = evaluate(model, spec, test_spikes, y_test, verbose=verbose)
    metrics.update({
        "train_seconds": round(train_seconds, 3),
        "train_samples": int(len(train_spikes)),
        "train_samples_per_second": round(len(train_spikes) * recipe.epochs / train_seconds, 1),
        "history": {k: [round(float(v), 6) for v in vs] for k, vs in history.history.items()},
        "versions": versions(),
    })
    return model, metrics


def train_checkpoint(spec: ModelSpec, data, out, verbose: int = 1) -> dict:
    """Train ``spec`` and write the checkpoint and ``metrics.json`` into ``out``; return the metrics."""
    from .checkpoint import save_checkpoint

    model, metrics = train(spec, data, verbose=verbose)
    spec = spec.replace(metrics={k: v for k, v in metrics.items() if k != "history"})
    save_checkpoint(model, spec, out, metrics)
    return metrics


def evaluate(model, spec: ModelSpec, test_spikes: np.ndarray, y_test: np.ndarray, verbose: int = 0) -> dict:
    """Test loss/accuracy, eval time and mean spikes per sample per layer."""
    start = time.perf_counter()
    loss, accuracy = model.evaluate(batches(test_spikes, y_test, spec.classes, 250), verbose=verbose)
    eval_seconds = time.perf_counter() - start
    return {
        "test_accuracy": round(float(accuracy), 6),
        "test_loss": round(float(loss), 6),
        "test_samples": int(len(test_spikes)),
        "eval_seconds": round(eval_seconds, 3),
        "eval_samples_per_second": round(len(test_spikes) / eval_seconds, 1),
        "mean_spikes_per_sample": mean_spikes(model, spec, test_spikes) if spec.model == "snu" else None,
        "input_spikes_per_sample": round(float(test_spikes.sum(dtype=np.int64)) / len(test_spikes), 3),
    }


def mean_spikes(model, spec: ModelSpec, spikes: np.ndarray, batch_size: int = 500) -> list[float]:
    """Mean number of output spikes per sample of every SNU layer."""
    import tensorflow as tf

    layers = [layer for layer in model.layers if layer.name.startswith("snu_")]
    probe = tf.keras.Model(model.inputs, [layer.output for layer in layers])
    totals = np.zeros(len(layers))
    for start in range(0, len(spikes), batch_size):
        outputs = probe(tf.cast(spikes[start:start + batch_size], tf.float32), training=False)
        totals += [float(tf.reduce_sum(o)) for o in outputs]
    return [round(t / len(spikes), 3) for t in totals]


def keras_verbosity() -> int:
    """Keras ``verbose``: a live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def versions() -> dict:
    import tensorflow as tf

    from .checkpoint import keras_version

    return {"snudeploy": __version__, "tensorflow": tf.__version__, "keras": keras_version(),
            "numpy": np.__version__, "python": sys.version.split()[0], "machine": platform.machine()}
