"""How an int8 graph compares with its float parent: accuracy, agreement, size, latency."""

from __future__ import annotations

import numpy as np

from ..runtime import Rollout, StreamingSession, rollout
from ..runtime.rollout import blocks


def compare(float_engine, int8_engine, spikes: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of both, drop, prediction and per-layer spike agreement, over ``spikes`` in
    :func:`~snudeploy.runtime.rollout.blocks` (a conv network's every spike of a test split would not fit in memory)."""
    equal, total, predictions, max_delta = {}, {}, [], 0.0
    for block in blocks(spikes):
        float_result, int8_result = rollout(float_engine, block), rollout(int8_engine, block)
        for i in float_result.spikes:
            equal[i] = equal.get(i, 0) + int(np.sum(float_result.spikes[i] == int8_result.spikes[i]))
            total[i] = total.get(i, 0) + float_result.spikes[i].size
        predictions.append((float_result.predictions, int8_result.predictions))
        s_states = [k for k in float_result.states if k.endswith("_s")]
        max_delta = max([max_delta, *(float(np.max(np.abs(float_result.states[k] - int8_result.states[k]),
                                                    initial=0.0)) for k in s_states)])
    float_pred = np.concatenate([f for f, _ in predictions])
    int8_pred = np.concatenate([q for _, q in predictions])
    float_accuracy, int8_accuracy = float(np.mean(float_pred == labels)), float(np.mean(int8_pred == labels))
    return {
        "test_samples": int(len(labels)),
        "float_accuracy": round(float_accuracy, 6),
        "int8_accuracy": round(int8_accuracy, 6),
        "accuracy_drop_points": round(100 * (float_accuracy - int8_accuracy), 3),
        "prediction_agreement": round(float(np.mean(float_pred == int8_pred)), 6),
        "spike_agreement_per_layer": {f"l{i}": round(equal[i] / total[i], 6) for i in sorted(equal)},
        "max_state_delta": max_delta,
    }


def exact(result: Rollout, reference: Rollout) -> dict:
    """Whether ONNX Runtime's result equals the reference evaluator's bit for bit."""
    spikes_equal = all(np.array_equal(result.spikes[i], reference.spikes[i]) for i in reference.spikes)
    states_equal = all(np.array_equal(result.states[k], reference.states[k]) for k in reference.states)
    return {"against": "onnx.reference (exact integer MatMuls)", "samples": int(len(result.rates)),
            "spikes_equal": bool(spikes_equal), "states_equal": bool(states_equal)}


def latency_us(models: dict, timesteps: int, batches=(1, 256), iters: int = 200) -> dict:
    """Median call latency (µs) of each model at each batch size, 1 thread, CPU, interleaved.

    ``models``: name -> ONNX path or bytes. Step graphs time one ``StreamingSession.step``;
    sequence graphs one whole sequence of ``timesteps`` (``StreamingSession.run``).
    """
    from ..bench.candidates import StreamStep, spike_inputs
    from ..bench.interleave import interleave

    results = {name: {} for name in models}
    sessions = {name: StreamingSession(model, providers="cpu", threads=1) for name, model in models.items()}
    for batch in batches:
        calls = {}
        for name, session in sessions.items():
            info = session.info
            enc = info.encoding
            if info.sequence:
                x = spike_inputs(batch, timesteps, info.features, enc.benchmark_spikes)
                calls[name] = lambda s=session, x=x: s.run(x)
            else:
                calls[name] = StreamStep(session, spike_inputs(batch, enc.timesteps, info.features, enc.benchmark_spikes))
        timed = interleave(calls, iters if batch == 1 else max(20, iters // 10), burst=5, warmup=5)
        for name, seconds in timed.items():
            results[name][f"b{batch}"] = round(float(np.median(seconds)) * 1e6, 1)
    return results
