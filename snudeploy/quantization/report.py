"""How an int8 graph compares with its float parent: accuracy, agreement, size, latency."""

from __future__ import annotations

import time

import numpy as np

from ..metadata import INPUT_NAME, state_names


def compare(float_result, int8_result, labels: np.ndarray) -> dict:
    """Accuracy of both, drop, prediction and per-layer spike agreement (``OnnxResult`` pairs)."""
    float_pred, int8_pred = float_result.rates.argmax(1), int8_result.rates.argmax(1)
    per_layer = {}
    for i, ((y_f, _), (y_q, _)) in enumerate(zip(float_result.states, int8_result.states)):
        equal, total = int(np.sum(y_f == y_q)), y_f.size
        if i in float_result.sequences:
            equal += int(np.sum(float_result.sequences[i] == int8_result.sequences[i]))
            total += float_result.sequences[i].size
        per_layer[f"l{i}"] = round(equal / total, 6)
    float_accuracy, int8_accuracy = float(np.mean(float_pred == labels)), float(np.mean(int8_pred == labels))
    return {
        "test_samples": int(len(labels)),
        "float_accuracy": round(float_accuracy, 6),
        "int8_accuracy": round(int8_accuracy, 6),
        "accuracy_drop_points": round(100 * (float_accuracy - int8_accuracy), 3),
        "prediction_agreement": round(float(np.mean(float_pred == int8_pred)), 6),
        "spike_agreement_per_layer": per_layer,
        "max_state_delta": float(max(np.max(np.abs(a[1] - b[1]), initial=0.0)
                                     for a, b in zip(float_result.states, int8_result.states))),
    }


def latency_us(sessions: dict, graph: str, units: list[int], features: int, timesteps: int,
               batches=(1, 256), seconds: float = 0.5) -> dict:
    """Median call latency (µs) of each session at each batch size, 1 thread, interleaved.

    Step graphs time one step; sequence graphs one whole sequence of ``timesteps``.
    Sessions are timed round-robin in short bursts so that machine noise hits all alike.
    """
    rng = np.random.default_rng(0)
    results = {name: {} for name in sessions}
    for batch in batches:
        shape = (batch, features) if graph == "step" else (batch, timesteps, features)
        feed = {INPUT_NAME: (rng.random(shape) < 0.1).astype(np.float32)}
        for i, u in enumerate(units):
            for _, name_in, _ in state_names(i):
                feed[name_in] = np.zeros((batch, u), np.float32)
        samples = {name: [] for name in sessions}
        for sess in sessions.values():
            sess.run(None, feed)  # warm-up
        deadline = time.perf_counter() + seconds * len(sessions)
        while time.perf_counter() < deadline or min(len(s) for s in samples.values()) < 5:
            for name, sess in sessions.items():
                start = time.perf_counter()
                sess.run(None, feed)
                samples[name].append(time.perf_counter() - start)
        for name in sessions:
            results[name][f"b{batch}"] = round(float(np.median(samples[name])) * 1e6, 1)
    return results
