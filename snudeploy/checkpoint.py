"""Checkpoints: ``spec.json`` + ``model.weights.h5`` (+ ``metrics.json``), loadable by Keras 3 and tf-keras."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ModelFileError
from .files import Transaction
from .spec import METRICS_FILE, SPEC_FILE, WEIGHTS_FILE, ModelSpec


def build_model(spec: ModelSpec, masked: bool = False):
    """The Keras sequence model for ``spec``: input [B, T, *input shape] -> the readout's scores [B, C].

    Each layer is its kind's Keras layer (:meth:`snudeploy.kinds.LayerSpec.keras_layer`), named
    ``<kind>_<index>`` (dense SNU layers ``snu_0``, ``snu_1``, ... as checkpoints have always named them),
    then the readout (:mod:`snudeploy.readouts`: ``GlobalAveragePooling1D`` for the mean rate).
    ``masked``: a ``Masking`` layer first, for sequences padded with :data:`snudeploy.training.MASK_VALUE`
    (it holds no weights: checkpoints load either way).
    """
    import tensorflow as tf

    from . import kinds, layers
    from .training import MASK_VALUE

    keras = tf.keras
    model = keras.Sequential(name=f"{spec.model}_net")
    model.add(keras.layers.InputLayer(input_shape=(None, *spec.input_shape)) if legacy_keras()
              else keras.Input(shape=(None, *spec.input_shape)))
    if masked:
        model.add(keras.layers.Masking(mask_value=MASK_VALUE, name="mask"))
    shape = spec.input_shape
    for i, layer in enumerate(spec.layers):
        if spec.model == "lstm" and isinstance(layer, kinds.DenseSNU):
            model.add(keras.layers.LSTM(layer.units, return_sequences=True, name=f"lstm_{i}"))
        else:
            model.add(layer.keras_layer(keras, layers, f"{layer.kind}_{i}", shape))
        shape = layer.output_shape(shape)
    readout = spec.readout
    model.add(keras.layers.GlobalAveragePooling1D(name="mean_rate") if readout.kind == "mean_rate"
              else layers.Readout(readout.kind, readout.reduce, name=readout.kind))
    return model


def save_checkpoint(model, spec: ModelSpec, directory, metrics: dict | None = None) -> Path:
    """Write ``spec.json``, ``model.weights.h5`` (and ``metrics.json``) into ``directory``, all or nothing."""
    directory = Path(directory)
    if getattr(model, "optimizer", None) is not None:  # Keras 3 would store the optimizer state too (3x the size)
        weights_only = build_model(spec)
        weights_only.set_weights(model.get_weights())
        model = weights_only
    with Transaction(directory) as files:
        model.save_weights(str(files.path(WEIGHTS_FILE)))
        files.write_text(SPEC_FILE, json.dumps(spec.to_dict(), indent=2) + "\n")
        if metrics is not None:
            files.write_text(METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    return directory


def load_checkpoint(path):
    """Rebuild the Keras model of checkpoint ``path`` and load its weights."""
    spec = ModelSpec.load(path)
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileError(f"Checkpoint {path} has no {WEIGHTS_FILE}.")
    model = build_model(spec)
    try:
        model.load_weights(str(weights))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise ModelFileError(f"Cannot load {weights} into the network its spec describes: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return model


def legacy_keras() -> bool:
    """True when ``tf.keras`` is tf-keras (Keras 2), i.e. ``TF_USE_LEGACY_KERAS=1``."""
    import tensorflow as tf
    return tf.keras.__name__.startswith("tf_keras")


def keras_version() -> str:
    """Version of the Keras that ``tf.keras`` resolves to."""
    if legacy_keras():
        import tf_keras
        return tf_keras.__version__
    import keras
    return keras.__version__
