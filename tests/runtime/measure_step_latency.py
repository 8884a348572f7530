"""Step latency of StreamingSession: IOBinding fast path vs plain path (a measurement, not a test).

    python tests/runtime/measure_step_latency.py [--repeats N]

Seed-network shape (784-250-250-10, customop step graph, random weights), 1 ONNX Runtime
thread, CPU. Reports the median over repeats of the mean per-step time of a loop of steps
on the same open streams, for B=1 and B=64, plus bare ``InferenceSession.run`` with
numpy state as the floor of the plain path.
"""

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort
from snu_models import model_bytes, snu_layers, spikes

from snudeploy.runtime import StreamingSession

SIZES = [784, 250, 250, 10]


def per_step(step, x, steps):
    for _ in range(20):
        step(x)
    start = time.perf_counter()
    for _ in range(steps):
        step(x)
    return (time.perf_counter() - start) / steps * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    payload = model_bytes(snu_layers(SIZES))
    rng = np.random.default_rng(0)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    bare = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
    names = [f"l{i}_{k}" for i in range(len(SIZES) - 1) for k in "ys"]
    print(f"onnxruntime {ort.__version__}, {'-'.join(map(str, SIZES))} customop step graph, 1 thread")
    for batch in (1, 64):
        steps = 2000 if batch == 1 else 300
        x = spikes(rng, (batch, SIZES[0]), p=0.15)
        sessions = {}
        for io_binding in (True, False):
            session = StreamingSession(payload, threads=1, io_binding=io_binding)
            session.open(batch)
            sessions["iobinding" if io_binding else "plain"] = session.step
        states = {n: np.zeros((batch, SIZES[1 + int(n[1])]), np.float32) for n in names}
        outputs = ["spikes"] + [n + "_next" for n in names]
        sessions["bare sess.run"] = lambda x: bare.run(outputs, {"x": x.astype(np.float32), **states})
        results = {name: [] for name in sessions}
        for _ in range(args.repeats):  # interleaved, so drifts in machine load hit all alike
            for name, step in sessions.items():
                results[name].append(per_step(step, x, steps))
        for name, times in results.items():
            print(f"B={batch:<3} {name:<14} {statistics.median(times):8.1f} us/step "
                  f"(min {min(times):.1f}, max {max(times):.1f})")


if __name__ == "__main__":
    main()
