"""Checkpoints for tests, made without training: a Keras model with weights that keep every layer spiking.

Training is for the slow lane; the quick lane needs real checkpoints (spec.json + Keras
weights, loadable and exportable like any other) only to exercise export, validation,
quantization and the CLI. Weights come from ``snu_models.snu_layers`` (the runtime tests'
generator), so every layer spikes on rate-encoded digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from snu_models import snu_layers

from snudeploy.encoding import Encoding
from snudeploy.spec import ModelSpec

DIGITS_ENCODING = Encoding(timesteps=20, max_spikes=15.0, seed=0)


def random_checkpoint(folder, sizes=(64, 32, 16, 10), *, dataset: str = "digits", encoding: Encoding = DIGITS_ENCODING,
                      seed: int = 0, model: str = "snu", **spec) -> Path:
    """Write a checkpoint of ``sizes`` with random spiking weights into ``folder``; return it."""
    from snudeploy.checkpoint import build_model, save_checkpoint

    spec = ModelSpec(input_features=sizes[0], classes=sizes[-1], hidden=tuple(sizes[1:-1]), dataset=dataset,
                     encoding=encoding, model=model, **spec)
    keras_model = build_model(spec)
    if model == "snu":
        params = snu_layers(list(sizes), seed, decay=spec.decay, g=spec.g, activation=spec.activation,
                            recurrent=spec.recurrent, lateral_inhibition=spec.lateral_inhibition)
        for layer, p in zip([l for l in keras_model.layers if hasattr(getattr(l, "cell", None), "threshold")], params):
            cell = layer.cell
            cell.kernel.assign(p.kernel)
            cell.threshold.assign(p.threshold)
            if cell.recurrent:
                cell.recurrent_kernel.assign(p.recurrent_kernel)
    else:
        rng = np.random.default_rng(seed)
        keras_model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in keras_model.get_weights()])
    return save_checkpoint(keras_model, spec, Path(folder))
