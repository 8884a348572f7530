"""From timed calls to the figures of a latency row: percentiles, noise flag, ratio to TensorFlow.

Medians (p50), not means, carry the comparisons: on a shared machine a few calls land on a
slow spell, and the mean follows them while the median does not. The mean still gives the
throughput, since that is what a long run sustains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NOISE_FACTOR = 2.0  # a row whose slowest call took more than this times its fastest is flagged
RATIO_KEY = ("mode", "timesteps", "batch", "threads")  # rows compared with TensorFlow share these


def summarize(seconds: Sequence[float], batch: int, timesteps: int) -> dict:
    """Latency figures in microseconds, throughput in stream-steps/s, and the noise flag."""
    us = np.asarray(seconds, np.float64) * 1e6
    if us.size == 0:
        raise ValueError("No timed calls to summarize.")
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    mean = float(us.mean())
    return {"samples": int(us.size), "p50_us": round(float(p50), 2), "p90_us": round(float(p90), 2),
            "p99_us": round(float(p99), 2), "mean_us": round(mean, 2), "min_us": round(float(us.min()), 2),
            "max_us": round(float(us.max()), 2), "throughput": round(batch * timesteps / (mean * 1e-6), 1),
            "noisy": noisy(us)}


def noisy(samples: Sequence[float], factor: float = NOISE_FACTOR) -> bool:
    """Whether the slowest sample is more than ``factor`` times the fastest."""
    values = np.asarray(samples, np.float64)
    return bool(values.size and values.max() > factor * values.min())


def noise_warning(record: dict) -> str:
    """The warning line for a noisy row."""
    spread = record["max_us"] / record["min_us"] if record["min_us"] > 0 else float("inf")
    return (f"{record['label']} ({record['provider']}, {record['mode']}, batch {record['batch']}, "
            f"{record['threads']} thread(s)): slowest call {spread:.1f}x the fastest (> {NOISE_FACTOR:g}x) - "
            "the machine was noisy; compare medians, rerun for tighter figures")


def is_reference(record: dict) -> bool:
    """Whether ``record`` is the TensorFlow SNU row that others are compared with."""
    return record["framework"] == "tensorflow" and record["network"] == "snu"


FLOOR_KEY = ("model", "provider", "mode", "batch", "threads")  # a runtime row and its floor share these
FLOOR_API = "bare IOBinding (floor)"


STEPS_KEY = ("model", "provider", "batch", "threads", "timesteps")  # a chunk row and its K-steps baseline


def add_ratios(records: list[dict]) -> list[dict]:
    """Set ``ratio_to_tf`` = p50 of the matching TensorFlow SNU row / the row's p50 (a speed-up),
    ``over_floor`` = the row's p50 / p50 of its model's bare IOBinding floor row (runtime step rows), and
    ``over_steps`` = a chunk row's p50 / p50 of its baseline row (mode ``steps``: K single steps timed as one).

    Rows match on :data:`RATIO_KEY`, :data:`FLOOR_KEY` and :data:`STEPS_KEY`; a row without a match gets None.
    Returns ``records``, changed in place.
    """
    reference = {tuple(r[k] for k in RATIO_KEY): r["p50_us"] for r in records if is_reference(r)}
    floors = {tuple(r[k] for k in FLOOR_KEY): r["p50_us"] for r in records if r.get("api") == FLOOR_API}
    steps = {tuple(r[k] for k in STEPS_KEY): r["p50_us"] for r in records if r.get("mode") == "steps"}
    for record in records:
        single = steps.get(tuple(record.get(k) for k in STEPS_KEY)) if record.get("mode") == "chunk" else None
        record["over_steps"] = round(record["p50_us"] / single, 3) if single else None
        tf_p50 = reference.get(tuple(record[k] for k in RATIO_KEY))
        record["ratio_to_tf"] = round(tf_p50 / record["p50_us"], 3) if tf_p50 and record["p50_us"] > 0 else None
        floor = floors.get(tuple(record.get(k) for k in FLOOR_KEY)) if record.get("api") != FLOOR_API else None
        record["over_floor"] = round(record["p50_us"] / floor, 3) if floor else None
    return records
