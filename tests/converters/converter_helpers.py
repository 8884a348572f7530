"""Helpers of the converter tests: training tiny checkpoints, running exports on ONNX Runtime."""

from __future__ import annotations

import numpy as np


def train_checkpoint(directory, data, dataset, features, hidden, variant=None, limit=600, encoding=None,
                     recipe=None):
    """Train a small SNU for one epoch on ``limit`` samples and save it as a checkpoint."""
    from snudeploy.checkpoint import save_checkpoint
    from snudeploy.spec import Encoding, ModelSpec, Recipe
    from snudeploy.training import train

    spec = ModelSpec(input_features=features, classes=10, hidden=hidden, dataset=dataset,
                     encoding=encoding or Encoding(timesteps=20, max_spikes=15.0, seed=0),
                     recipe=recipe or Recipe(epochs=1, batch_size=15, optimizer="adam", lr=3e-3, limit=limit),
                     **(variant or {}))
    model, metrics = train(spec, data, verbose=0)
    spec.metrics = {k: v for k, v in metrics.items() if k != "history"}
    save_checkpoint(model, spec, directory)
    return directory


def ort_session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def state_feed(sess, batch):
    """Zero states for every state input of ``sess``."""
    return {i.name: np.zeros((batch, i.shape[1]), np.float32) for i in sess.get_inputs() if i.name != "x"}


def roll_step(path, x):
    """Roll a step graph over x [B, T, F]: (spikes [B, T, C], {state output name: final value})."""
    sess = ort_session(path)
    feed = state_feed(sess, len(x))
    names = list(feed)
    spikes = []
    for t in range(x.shape[1]):
        out = sess.run(["spikes"] + [f"{n}_next" for n in names], {"x": x[:, t], **feed})
        spikes.append(out[0])
        feed = dict(zip(names, out[1:]))
    return np.stack(spikes, axis=1), {f"{n}_next": v for n, v in feed.items()}


def run_sequence(path, x):
    """Run a sequence graph once: (spikes [B, T, C], rates [B, C], {state output name: final value})."""
    sess = ort_session(path)
    feed = state_feed(sess, len(x))
    names = [f"{n}_next" for n in feed]
    out = sess.run(["spikes", "rates"] + names, {"x": x, **feed})
    return out[0], out[1], dict(zip(names, out[2:]))
