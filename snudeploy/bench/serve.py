"""``bench serve``: one streaming load through Triton and in process, side by side in one run.

The load is N sequences of T time steps (rate-encoded random inputs, as ``bench
latency``). Three rows, run one after another on the same inputs, each stopped by the
same duration cap:

* ``in-process, batch N``: an application loop stepping all N streams of one
  ``StreamingSession`` in one call per time step (the fast path an embedding uses);
* ``in-process, batch 1``: one ``step`` call per stream-step, streams taken in turn (what
  one request costs without a server);
* ``triton``: the model served by Triton's Python backend on loopback ports, N
  concurrent client loops over gRPC, each sending its sequence's steps one request at a
  time (:func:`snudeploy.serve.client.stream`); latency is per request as the client sees
  it, throughput is stream-steps per second of wall time.

The client runs in this process and the server in its own, on the same cores: on a small
machine the client's share limits the Triton row. Start-up (model loading) and a warm-up
pass (every sequence, a few steps) are not timed.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import arguments
from ..errors import ConfigurationError
from ..extras import require
from ..metadata import ModelInfo
from ..runtime import load_model
from ..serve import client, repository
from ..serve.config import ServeSettings
from ..serve.server import TritonServer, check_platform
from . import environment, schema
from .candidates import spike_inputs, streaming_session
from .tables import short_labels

WARMUP_STEPS = 3  # untimed steps of every sequence first: every batch size the load makes has run


@dataclass(frozen=True)
class ServePlan:
    """A checked load test: the model, the load, the cap, and how Triton serves it."""
    model: Path
    label: str
    info: ModelInfo
    sequences: int
    steps: int
    duration: float
    serving: ServeSettings

    def settings(self) -> dict:
        return {"model": str(self.model), "sequences": self.sequences, "steps": self.steps,
                "duration_cap_s": self.duration, "instances": self.serving.instances,
                "max_batch": self.serving.max_batch, "strategy": self.serving.strategy,
                "threads": self.serving.threads, "client": "tritonclient gRPC asyncio, one channel",
                "statistic": "p50/p99 per request or call; throughput = stream-steps / wall seconds"}


def plan(model, sequences: int = 32, steps: int | None = None, duration: float = 10.0, instances: int = 1,
         max_batch: int | None = None, strategy: str = "direct", threads: int = 1) -> ServePlan:
    """Check every input and describe the run; raise a :class:`SnudeployError` on bad input.

    ``max_batch`` defaults to the sequences per instance, so every sequence has a slot.
    """
    check_platform()
    require("serve", "bench serve")
    path = Path(model)
    info = load_model(path).info
    sequences = arguments.limited(sequences, "sequences", "batch")
    default_steps = info.encoding.timesteps if info.encoding else 20
    steps = arguments.optional_integer(steps, "steps", 1, arguments.LIMITS["timesteps"]) or default_steps
    duration = arguments.number(duration, "duration", 0, 3600, min_open=True)
    if info.graph != "step":
        raise ConfigurationError(f"{path} is a {info.graph} graph; bench serve streams step graphs.")
    max_batch = max_batch or math.ceil(sequences / instances)
    serving = ServeSettings(name="bench", instances=instances, max_batch=max_batch, strategy=strategy,
                            threads=threads)
    return ServePlan(path, short_labels([path])[0], info, sequences, steps, duration, serving)


def run(plan: ServePlan, on_row=None) -> dict:
    """Run the three rows of ``plan``; return the JSON document (see :data:`.schema.SERVE`)."""
    info = plan.info
    spikes = info.encoding.benchmark_spikes if info.encoding else plan.steps / 4
    x = spike_inputs(plan.sequences, plan.steps, info.features, spikes)
    env = environment.describe([plan.serving.threads])
    fields = {"model": str(plan.model), "label": plan.label, "format": info.format, "graph": info.graph,
              "network": "snu", "units": info.units, "quantization": info.quantization.method,
              "threads": plan.serving.threads, "sequences": plan.sequences, "steps": plan.steps}
    session = streaming_session(plan.model, "cpu", plan.serving.threads)
    records = []
    for batch in (plan.sequences, 1):
        records.append({**fields, **_in_process(session, x, batch, plan.duration), "provider": session.provider})
        if on_row:
            on_row()
    records.append({**fields, **_triton(plan, x), "provider": session.provider})
    if on_row:
        on_row()
    warnings = [f"{r['label']} ({r['server']}): {r['errors']} request(s) failed" for r in records if r["errors"]]
    warnings += [f"{r['label']} ({r['server']}, batch {r['batch']}): the {plan.duration:g} s cap stopped it "
                 f"after {r['stream_steps']} of {plan.sequences * plan.steps} stream-steps" for r in records
                 if r["capped"]]
    return {"schema_version": schema.SCHEMA_VERSION, "kind": "serve", "settings": plan.settings(),
            "environment": env, "records": records, "warnings": warnings}


def _in_process(session, x: np.ndarray, batch: int, duration: float) -> dict:
    """Step all sequences of ``x`` ``[N, T, F]``, ``batch`` streams per call, until done or ``duration``."""
    samples, steps, _ = x.shape
    ids = session.open(samples)
    try:
        groups = [list(range(i, min(i + batch, samples))) for i in range(0, samples, batch)]
        session.step(x[groups[0], 0], [ids[i] for i in groups[0]])  # warm-up, then start over
        session.reset(ids)
        times, done = [], 0
        began = time.perf_counter()
        for t, group in itertools.product(range(steps), groups):
            start = time.perf_counter()
            if start - began >= duration:
                break
            session.step(x[group, t], [ids[i] for i in group])
            times.append(time.perf_counter() - start)
            done += len(group)
        seconds = time.perf_counter() - began
    finally:
        session.close(ids)
    return {"framework": "onnxruntime", "server": "in-process", "backend": None, "strategy": None,
            "instances": 1, "batch": batch, "capped": done < samples * steps, "errors": 0,
            **_figures(times, done, seconds)}


def _triton(plan: ServePlan, x: np.ndarray) -> dict:
    serving = plan.serving
    with tempfile.TemporaryDirectory(prefix="snudeploy-bench-serve-") as folder:
        written = repository.write(plan.model, folder, serving)
        with TritonServer(written.path("python")) as server:
            url = server.endpoints.grpc_url
            client.stream(url, serving.name, x[:, :WARMUP_STEPS], concurrency=len(x), first_id=1 + len(x))
            result = client.stream(url, serving.name, x, concurrency=plan.sequences,
                                   deadline=time.monotonic() + plan.duration)
    done = int(len(result.latencies))
    return {"framework": "triton", "server": "triton", "backend": "python", "strategy": serving.strategy,
            "instances": serving.instances, "batch": serving.max_batch,
            "capped": done + len(result.errors) < x.shape[0] * x.shape[1], "errors": len(result.errors),
            **_figures(result.latencies, done, result.seconds)}


def _figures(seconds_per_call, stream_steps: int, wall: float) -> dict:
    us = np.asarray(seconds_per_call, np.float64) * 1e6
    p50, p99 = (np.percentile(us, [50, 99]) if us.size else (math.nan, math.nan))
    return {"samples": int(us.size), "stream_steps": int(stream_steps), "seconds": round(wall, 4),
            "p50_us": round(float(p50), 2), "p99_us": round(float(p99), 2),
            "mean_us": round(float(us.mean()) if us.size else math.nan, 2),
            "throughput": round(stream_steps / wall, 1) if wall > 0 else 0.0}
