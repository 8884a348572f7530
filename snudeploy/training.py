"""Training and evaluation of SNU (and LSTM baseline) networks on encoded data.

Spikes stay uint8 until a batch is fed: a ``tf.data`` generator slices the encoded array
and casts per batch, so a full 60k x 20 x 784 run holds ~1 GB of spikes, not ~4 GB.
Sequences of different lengths train with Keras masks: the steps past a sequence's length
are set to :data:`MASK_VALUE` per batch, a ``Masking`` layer turns them into a mask, the
recurrent layers skip them (keeping their state) and the readout ignores them, so a
sequence's result is that of streaming it for its own length.
"""

from __future__ import annotations

import platform
import sys
import time

import numpy as np

from . import __version__
from .encoding import Direct, Encoder, Encoding
from .errors import ConfigurationError
from .readouts import Readout
from .spec import ModelSpec, Recipe

# Datasets may carry their own defaults; MNIST and Fashion-MNIST use the seed recipe exactly.
# Digits has 64 inputs instead of 784: with the seed's 6 spikes per pixel the encoding noise
# dominates (~90 % test accuracy at best); 15 spikes and Adam reach ~97 % in ~25 s.
# Sequences (japanese-vowels, basic-motions, your own .npz) default to the recipe measured best
# on japanese-vowels (docs/sequences.md): direct encoding, membrane readout, Adam.
_SEQUENCES = (Direct(), Recipe(epochs=40, batch_size=16, optimizer="adam", lr=3e-3, loss="crossentropy"),
              Readout("membrane", "last"))
DATASET_DEFAULTS = {
    "digits": (Encoding(timesteps=20, max_spikes=15.0), Recipe(epochs=20, batch_size=15, optimizer="adam", lr=3e-3)),
}


def dataset_defaults(dataset: str | None, sequences: bool = False) -> tuple[Encoder, Recipe]:
    """The (encoding, recipe) a dataset trains with unless flags override them (``sequences``: its samples are
    sequences)."""
    if sequences:
        return _SEQUENCES[:2]
    return DATASET_DEFAULTS.get(dataset, (Encoding(), Recipe()))


def default_readout(sequences: bool = False) -> Readout:
    """The readout a dataset trains with unless ``--readout`` says otherwise."""
    return _SEQUENCES[2] if sequences else Readout()


MASK_VALUE = -1.0e9  # the input of steps past a sequence's length (no encoder produces it)


def batches(spikes: np.ndarray, labels: np.ndarray, classes: int, batch_size: int,
            shuffle: bool = False, seed: int = 0, shard: tuple[int, int, int] | None = None, chunk: int = 20,
            lengths: np.ndarray | None = None):
    """A ``tf.data.Dataset`` of (float32 spikes [B, T, F], one-hot [B, C]) batches.

    ``lengths`` [N]: steps past a sample's length become :data:`MASK_VALUE` (see the module docstring).

    Each epoch draws a new permutation (``default_rng(seed)``, one per epoch); a batch is a
    sorted slice of it. The Python generator hands over ``chunk`` batches at a time, which
    TensorFlow splits: one hand-over per batch cost ~2.5 ms of a ~6 ms batch-15 SNU step.

    ``shard = (replicas, first, count)`` gives one input pipeline of distributed training:
    each global batch (``batch_size x replicas`` samples of the permutation) is cut into
    per-replica batches, and this pipeline yields those of replicas ``first`` to
    ``first + count - 1`` in turn. Every pipeline draws the same permutations (same seed);
    the last ``n mod (batch_size x replicas)`` samples of each permutation are left out, so
    that all replicas step together.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    n = len(spikes)
    replicas, first, count = shard or (1, 0, 1)
    steps = n // (batch_size * replicas)
    eye = np.eye(classes, dtype=np.float32)

    def masked(index):
        x = spikes[index]
        if lengths is None:
            return x
        x = x.astype(np.float32)
        x[np.arange(x.shape[2])[None, None, :] >= lengths[index][..., None]] = MASK_VALUE
        return x

    def generate():  # yields [k, B, T, F] spikes and [k, B, C] labels
        order = rng.permutation(n) if shuffle else np.arange(n)
        rows = order[:steps * batch_size * replicas].reshape(steps, replicas, batch_size)
        rows = rows[:, first:first + count].reshape(-1, batch_size)
        for start in range(0, len(rows), chunk):
            index = np.sort(rows[start:start + chunk], axis=1)
            yield masked(index), eye[labels[index]]
        if shard is None and steps * batch_size < n:
            index = np.sort(order[steps * batch_size:])[None]
            yield masked(index), eye[labels[index]]

    dtype = tf.float32 if lengths is not None else tf.as_dtype(spikes.dtype)
    signature = (tf.TensorSpec((None, None) + spikes.shape[1:], dtype),
                 tf.TensorSpec((None, None, classes), tf.float32))
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.flat_map(lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)))
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-n // batch_size) if shard is None
                                                                     else steps * count))
    return dataset.map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(4)


def fit_settings(spec: ModelSpec, distributed: bool = False) -> dict:
    """How ``fit`` runs ``spec``: ``model.compile`` settings (why: docs/training.md, Speed).

    * ``steps_per_execution``: 20 steps per call into TensorFlow spare Keras' per-call
      overhead (a batch-15 SNU step took 7.7 ms one per call, 5.9 ms ten per call).
    * ``jit_compile``: XLA fuses the few elementwise ops of each SNU time step, forward and
      backward, into one kernel. Keras' LSTM steps are slower under it on this CPU, so the
      LSTM baseline runs without; so does distributed training ("Collectives are not yet
      implemented for CPU devices when compiling with XLA", TensorFlow 2.21).

    Evaluation compiles with none of these: it keeps TensorFlow's plain kernels, the
    arithmetic exports are validated against.
    """
    return {"jit_compile": spec.model == "snu" and not distributed, "steps_per_execution": 20}


def compile_model(model, recipe: Recipe, settings: dict | None = None, steps_per_epoch: int = 1):
    """Compile ``model`` with the recipe's optimizer, learning rate schedule (over ``steps_per_epoch``
    batches an epoch) and loss, and ``settings`` (e.g. :func:`fit_settings`)."""
    import tensorflow as tf

    keras = tf.keras
    optimizers = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}
    losses = {"mse": "mse", "crossentropy": keras.losses.CategoricalCrossentropy(from_logits=True)}
    model.compile(optimizer=optimizers[recipe.optimizer](learning_rate=recipe.learning_rate(steps_per_epoch)), loss=losses[recipe.loss],
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], **(settings or {}))
    return model


class Training:
    """One network's training run, advanced epoch by epoch.

    :func:`train` runs it to the end in one go; ``snudeploy bench train`` advances an SNU and
    an LSTM one epoch each in turn, so that both see the same machine; distributed training
    (:mod:`snudeploy.distributed`) passes its ``tf.distribute`` strategy, in whose scope the
    model is built and compiled, and whose input pipelines each read their shard of every
    global batch (``recipe.batch_size`` per replica). The data are encoded and the model is
    built (seeded) and compiled with :func:`fit_settings` on construction. ``data`` is a
    :class:`snudeploy.datasets.Data` or ``(x_train, y_train, x_test, y_test)``; sequences of
    different lengths (``Data.lengths_*``) train with masks.
    """

    def __init__(self, spec: ModelSpec, data, verbose: int = 0, strategy=None):
        import contextlib

        import tensorflow as tf

        from .checkpoint import build_model

        recipe = spec.recipe
        x_train, y_train, x_test, y_test = data.arrays if hasattr(data, "arrays") else data
        lengths_train, lengths_test = getattr(data, "lengths_train", None), getattr(data, "lengths_test", None)
        if recipe.limit:
            x_train, y_train = x_train[:recipe.limit], y_train[:recipe.limit]
            lengths_train = None if lengths_train is None else lengths_train[:recipe.limit]
        if (lengths_train is not None or lengths_test is not None) and strategy is not None:
            raise ConfigurationError("Sequences of different lengths train on one machine (masks); distributed "
                                     "training takes equal lengths.")
        tf.keras.utils.set_random_seed(recipe.seed)
        self.spec, self.verbose = spec, verbose
        self.masked = lengths_train is not None or lengths_test is not None
        self.lengths_test = lengths_test
        self.train_spikes = shaped(spec, spec.encoding.encode(x_train, "train", lengths_train))
        self.test_spikes, self.y_test = shaped(spec, spec.encoding.encode(x_test, "test", lengths_test)), y_test
        self.settings = fit_settings(spec, distributed=strategy is not None)
        feed = (self.train_spikes, y_train, spec.classes, recipe.batch_size, True, recipe.seed)
        extra = {"lengths": lengths_train} if lengths_train is not None else {}
        if strategy is None:
            self.steps, self.dataset = None, batches(*feed, **extra)  # steps per epoch: the dataset's length
            steps_per_epoch = -(-len(self.train_spikes) // recipe.batch_size)
        else:
            replicas = strategy.num_replicas_in_sync
            self.steps = steps_per_epoch = len(self.train_spikes) // (recipe.batch_size * replicas)
            if not self.steps:
                raise ConfigurationError(f"The global batch ({recipe.batch_size} per replica x {replicas} replicas) "
                                         f"is larger than the {len(self.train_spikes)} training samples.")
            # Repeated: with steps_per_epoch, tf-keras keeps one iterator for all epochs.
            self.dataset = strategy.distribute_datasets_from_function(lambda context: batches(*feed, shard=(
                replicas, context.input_pipeline_id * (replicas // context.num_input_pipelines),
                replicas // context.num_input_pipelines)).repeat())
        with strategy.scope() if strategy else contextlib.nullcontext():
            self.model = compile_model(build_model(spec, masked=self.masked), recipe, self.settings, steps_per_epoch)
        self.epoch_seconds: list[float] = []
        self.history: dict[str, list[float]] = {}
        self.train_seconds = 0.0

    def fit(self, epochs: int, callbacks: tuple = ()) -> None:
        """Train ``epochs`` more epochs (with extra Keras ``callbacks``)."""
        done = len(self.epoch_seconds)
        start = time.perf_counter()
        history = self.model.fit(self.dataset, initial_epoch=done, epochs=done + epochs, steps_per_epoch=self.steps,
                                 shuffle=False, verbose=self.verbose,
                                 callbacks=[*callbacks, epoch_timer(self.epoch_seconds)])
        self.train_seconds += time.perf_counter() - start
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(round(float(v), 6) for v in values)

    def finish(self):
        """Evaluate on the test split; return (model, metrics).

        The model is a weights-only copy compiled without :func:`fit_settings`: inference
        runs TensorFlow's plain kernels, the arithmetic exports are validated against.
        """
        from .checkpoint import build_model

        model = build_model(self.spec, masked=self.masked)
        model.set_weights(self.model.get_weights())
        compile_model(model, self.spec.recipe)
        metrics = evaluate(model, self.spec, self.test_spikes, self.y_test, verbose=self.verbose,
                           lengths=self.lengths_test)
        epochs = len(self.epoch_seconds)
        metrics.update({
            "train_seconds": round(self.train_seconds, 3),
            "train_samples": int(len(self.train_spikes)),
            "train_samples_per_second": round(len(self.train_spikes) * epochs / self.train_seconds, 1),
            "epoch_seconds": self.epoch_seconds,
            "history": self.history,
            "versions": versions(),
        })
        return model, metrics


def shaped(spec: ModelSpec, spikes: np.ndarray) -> np.ndarray:
    """Encoded ``spikes [N, T, F]`` as the network takes them, ``[N, T, *input_shape]`` (a view)."""
    return spikes.reshape(*spikes.shape[:2], *spec.input_shape)


def epoch_timer(seconds: list[float]):
    """A Keras callback that appends each epoch's wall time to ``seconds``."""
    import tensorflow as tf

    class EpochTimer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(round(time.perf_counter() - self.start, 3))

    return EpochTimer()


def train(spec: ModelSpec, data, verbose: int = 1):
    """Train ``spec`` on ``data`` = (x_train, y_train, x_test, y_test); return (model, metrics)."""
    run = Training(spec, data, verbose)
    run.fit(spec.recipe.epochs)
    return run.finish()


def train_checkpoint(spec: ModelSpec, data, out, verbose: int = 1) -> dict:
    """Train ``spec`` and write the checkpoint and ``metrics.json`` into ``out``; return the metrics."""
    from .checkpoint import save_checkpoint

    model, metrics = train(spec, data, verbose=verbose)
    spec = spec.replace(metrics={k: v for k, v in metrics.items() if k not in ("history", "epoch_seconds")})
    save_checkpoint(model, spec, out, metrics)
    return metrics


def evaluate(model, spec: ModelSpec, test_spikes: np.ndarray, y_test: np.ndarray, verbose: int = 0,
             lengths: np.ndarray | None = None) -> dict:
    """Test loss/accuracy, eval time and mean spikes per sample per layer (``lengths``: masked sequences)."""
    start = time.perf_counter()
    loss, accuracy = model.evaluate(batches(test_spikes, y_test, spec.classes, 250, lengths=lengths), verbose=verbose)
    eval_seconds = time.perf_counter() - start
    return {
        "test_accuracy": round(float(accuracy), 6),
        "test_loss": round(float(loss), 6),
        "test_samples": int(len(test_spikes)),
        "eval_seconds": round(eval_seconds, 3),
        "eval_samples_per_second": round(len(test_spikes) / eval_seconds, 1),
        "mean_spikes_per_sample": mean_spikes(model, spec, test_spikes, lengths) if spec.model == "snu" else None,
        "input_spikes_per_sample": round(float(test_spikes.sum(dtype=np.int64)) / len(test_spikes), 3)
        if spec.encoding.SPIKES else None,
    }


def mean_spikes(model, spec: ModelSpec, spikes: np.ndarray, lengths: np.ndarray | None = None,
                batch_size: int = 500) -> list[float]:
    """Mean number of output spikes per sample of every SNU layer (within each sequence's length)."""
    import tensorflow as tf

    from .layers import spiking_layers

    layers = spiking_layers(model)
    probe = tf.keras.Model(model.inputs, [layer.output for layer in layers])
    totals = np.zeros(len(layers))
    for start in range(0, len(spikes), batch_size):
        chunk = np.asarray(spikes[start:start + batch_size], np.float32)
        valid = np.ones(chunk.shape[:2], np.float32)
        if lengths is not None:
            valid = (np.arange(chunk.shape[1])[None, :] < lengths[start:start + batch_size, None]).astype(np.float32)
            chunk[valid == 0] = MASK_VALUE
        outputs = probe(tf.constant(chunk), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        totals += [float(np.sum(o.numpy().reshape(*valid.shape, -1) * valid[..., None])) for o in outputs]
    return [round(t / len(spikes), 3) for t in totals]


def keras_verbosity() -> int:
    """Keras ``verbose``: a live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def versions() -> dict:
    import tensorflow as tf

    from .checkpoint import keras_version

    return {"snudeploy": __version__, "tensorflow": tf.__version__, "keras": keras_version(),
            "numpy": np.__version__, "python": sys.version.split()[0], "machine": platform.machine()}
