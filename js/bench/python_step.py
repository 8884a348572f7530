"""Python's side of bench.mjs: one StreamingSession.step at 1 stream, timed as the JS side times it.

Usage: python python_step.py ROUNDS STEPS MODEL... ; prints {model: [µs per step of each burst]} as JSON.
"""

import json
import sys
import time

import numpy as np

from snudeploy.runtime import StreamingSession


def main(rounds: int, steps: int, models: list[str]) -> None:
    sessions = {model: StreamingSession(model, threads=1) for model in models}
    streams = {model: s.open(1) for model, s in sessions.items()}
    rng = np.random.default_rng(0)
    inputs = {model: (rng.random((1, s.features)) < 0.2).astype(np.uint8) for model, s in sessions.items()}
    bursts = {model: [] for model in models}
    for _ in range(rounds):
        for model, session in sessions.items():
            x, ids = inputs[model], streams[model]
            session.step(x, ids)  # untimed: the burst starts on warm caches
            start = time.perf_counter()
            for _ in range(steps):
                session.step(x, ids)
            bursts[model].append((time.perf_counter() - start) / steps * 1e6)
    print(json.dumps(bursts))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
