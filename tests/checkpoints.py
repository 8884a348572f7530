"""Checkpoints for tests, made without training: a Keras model with weights that keep every layer spiking.

Training is for the slow lane; the quick lane needs real checkpoints (spec.json + Keras
weights, loadable and exportable like any other) only to exercise export, validation,
quantization and the CLI. Weights come from ``snu_models`` (the runtime tests' generators),
so every layer spikes on rate-encoded digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from snu_models import conv_network, snu_layers

from snudeploy.encoding import Encoding
from snudeploy.spec import ModelSpec

DIGITS_ENCODING = Encoding(timesteps=20, max_spikes=15.0, seed=0)


def random_checkpoint(folder, sizes=(64, 32, 16, 10), *, dataset: str = "digits", encoding: Encoding = DIGITS_ENCODING,
                      seed: int = 0, model: str = "snu", **spec) -> Path:
    """Write a dense checkpoint of ``sizes`` with random spiking weights into ``folder``; return it."""
    spec = ModelSpec.dense(sizes[0], sizes[-1], hidden=tuple(sizes[1:-1]), dataset=dataset, encoding=encoding,
                           model=model, **spec)
    if model != "snu":
        return _write(spec, folder, None, seed)
    first = spec.layers[0]
    return _write(spec, folder, snu_layers(list(sizes), seed, decay=first.decay, g=first.g,
                                           activation=first.activation, recurrent=first.recurrent,
                                           lateral_inhibition=first.lateral_inhibition), seed)


def random_conv_checkpoint(folder, input_shape=(8, 8, 1), *, dataset: str = "digits", encoding=DIGITS_ENCODING,
                           seed: int = 0, **network) -> Path:
    """Write a convolutional checkpoint (``snu_models.conv_network``) with random spiking weights."""
    net = conv_network(input_shape, seed, classes=10, **network)
    spec = ModelSpec(input_shape=input_shape, classes=10, layers=[layer.spec for layer in net.layers],
                     dataset=dataset, encoding=encoding)
    return _write(spec, folder, net, seed)


def _write(spec: ModelSpec, folder, network, seed: int) -> Path:
    from snudeploy.checkpoint import build_model, save_checkpoint

    keras_model = build_model(spec)
    if network is None:
        rng = np.random.default_rng(seed)
        keras_model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in keras_model.get_weights()])
    else:
        weighted = [layer for layer in keras_model.layers if layer.weights]
        for layer, exported in zip(weighted, [layer for layer in network.layers if layer.weights]):
            owner = getattr(layer, "cell", layer)
            for name, value in exported.weights.items():
                getattr(owner, name).assign(value)
    return save_checkpoint(keras_model, spec, Path(folder))
