"""``bench serve``: one streaming load through Triton and in process, side by side in one run.

The load is N sequences of T time steps (rate-encoded random inputs, as ``bench
latency``), sent one step per call or request and, with ``--chunk K``, also K steps per
call or request (the last chunk of a sequence shorter when K does not divide T). For each
chunk size three rows, run one after another on the same inputs, each stopped by the same
duration cap:

* ``in-process, batch N``: an application loop stepping all N streams of one
  ``StreamingSession`` in one call per time step or chunk (the fast path an embedding uses);
* ``in-process, batch 1``: one ``step`` call per stream and step or chunk, streams taken in
  turn (what one request costs without a server);
* ``triton``: the model served by Triton's Python backend on loopback ports, N
  concurrent client loops over gRPC, each sending its sequence's steps or chunks one
  request at a time (:func:`snudeploy.serve.client.stream`); latency is per request as the
  client sees it, throughput is stream-steps per second of wall time.

Triton rows also say where a request's time went, for the timed requests: on the server,
from Triton's own statistics, waiting in the sequence batcher's queue and in the backend
(inputs to the Python stub, its ``execute``, outputs back), and from the Python model's
counters (:data:`snudeploy.serve.python_backend.METRICS`) its ``execute`` and the model
inside it; the rest of the client's latency is the client, gRPC and Triton's front end.
``requests_per_execution`` shows how many requests Triton batched per execution. Latency
is not cost: on a machine with few cores the three processes a request passes through
wait for each other's cores, so the rows also give the CPU time each process spent per
request (the client, this process; ``tritonserver``; its Python stubs), read from
``/proc``, and the cores they kept busy together.

The client runs in this process and the server in its own, on the same cores: on a small
machine the client's share limits the Triton rows. Start-up (model loading) and a warm-up
pass (every sequence, a few steps or one chunk) are not timed. One server serves both
chunk sizes.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import arguments
from ..errors import ConfigurationError
from ..extras import require
from ..metadata import ModelInfo
from ..runtime import load_model
from ..serve import client, repository
from ..serve.config import MAX_CHUNK, ServeSettings
from ..serve.python_backend import METRICS
from ..serve.server import TritonServer, check_platform
from . import environment, schema
from .candidates import spike_inputs, streaming_session
from .tables import short_labels

WARMUP_STEPS = 3  # untimed steps of every sequence first: every batch size the load makes has run
TRITON_ONLY = ("queue_us", "backend_us", "execute_us", "model_us", "requests_per_execution", "client_cpu_us",
               "server_cpu_us", "stub_cpu_us", "cores")  # null in in-process rows


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
    chunk: int = 1

    @property
    def chunks(self) -> tuple[int, ...]:
        """Steps per call or request of each group of rows: 1, then ``chunk`` when it is larger."""
        return (1, self.chunk) if self.chunk > 1 else (1,)

    def settings(self) -> dict:
        return {"model": str(self.model), "sequences": self.sequences, "steps": self.steps, "chunk": self.chunk,
                "duration_cap_s": self.duration, "instances": self.serving.instances,
                "max_batch": self.serving.max_batch, "strategy": self.serving.strategy,
                "threads": self.serving.threads, "client": "tritonclient gRPC asyncio, one channel",
                "statistic": "p50/p99 per request or call; throughput = stream-steps / wall seconds"}


def plan(model, sequences: int = 32, steps: int | None = None, duration: float = 10.0, instances: int = 1,
         max_batch: int | None = None, strategy: str = "direct", threads: int = 1, chunk: int = 1) -> ServePlan:
    """Check every input and describe the run; raise a :class:`SnudeployError` on bad input.

    ``max_batch`` defaults to the sequences per instance, so every sequence has a slot.
    """
    check_platform()
    require("serve", "bench serve")
    path = Path(model)
    loaded = load_model(path)
    info = loaded.info
    sequences = arguments.limited(sequences, "sequences", "batch")
    default_steps = info.encoding.timesteps if info.encoding else 20
    steps = arguments.optional_integer(steps, "steps", 1, arguments.LIMITS["timesteps"]) or default_steps
    duration = arguments.number(duration, "duration", 0, 3600, min_open=True)
    chunk = arguments.limited(chunk, "chunk", "timesteps")
    if loaded.fixed_timesteps is not None:
        raise ConfigurationError(f"{path} is a sequence graph of a fixed T = {loaded.fixed_timesteps}; bench serve "
                                 "streams step graphs and free-T sequence graphs.")
    max_batch = max_batch or math.ceil(sequences / instances)
    serving = ServeSettings(name="bench", instances=instances, max_batch=max_batch, strategy=strategy,
                            threads=threads, max_chunk=max(chunk, MAX_CHUNK))
    return ServePlan(path, short_labels([path])[0], info, sequences, steps, duration, serving, chunk)


def run(plan: ServePlan, on_row=None) -> dict:
    """Run the rows of ``plan`` (three per chunk size); return the JSON document (see :data:`.schema.SERVE`)."""
    info = plan.info
    spikes = info.encoding.benchmark_spikes if info.encoding else plan.steps / 4
    x = spike_inputs(plan.sequences, plan.steps, info.features, spikes).reshape(plan.sequences, plan.steps,
                                                                                *info.input.shape)
    env = environment.describe([plan.serving.threads])
    fields = {"model": str(plan.model), "label": plan.label, "format": info.format, "graph": info.graph,
              "network": "snu", "units": info.units, "quantization": info.quantization.method,
              "threads": plan.serving.threads, "sequences": plan.sequences, "steps": plan.steps}
    session = streaming_session(plan.model, "cpu", plan.serving.threads)
    rows = {}
    for chunk in plan.chunks:
        for batch in (plan.sequences, 1):
            rows[chunk, batch] = _in_process(session, x, batch, chunk, plan.duration)
            if on_row:
                on_row()
    for chunk, row in _triton(plan, x, on_row).items():
        rows[chunk, "triton"] = row
    records = [{**fields, **rows[chunk, kind], "chunk": chunk, "provider": session.provider}
               for chunk in plan.chunks for kind in (plan.sequences, 1, "triton")]
    warnings = [f"{r['label']} ({r['server']}, chunk {r['chunk']}): {r['errors']} request(s) failed" for r in records
                if r["errors"]]
    warnings += [f"{r['label']} ({r['server']}, batch {r['batch']}, chunk {r['chunk']}): the {plan.duration:g} s cap "
                 f"stopped it after {r['stream_steps']} of {plan.sequences * plan.steps} stream-steps" for r in records
                 if r["capped"]]
    return {"schema_version": schema.SCHEMA_VERSION, "kind": "serve", "settings": plan.settings(),
            "environment": env, "records": records, "warnings": warnings}


def _in_process(session, x: np.ndarray, batch: int, chunk: int, duration: float) -> dict:
    """Step all sequences of ``x`` ``[N, T, *input]``, ``batch`` streams and ``chunk`` steps per call, until done
    or ``duration``."""
    samples, steps = x.shape[:2]
    ids = session.open(samples)
    try:
        groups = [list(range(i, min(i + batch, samples))) for i in range(0, samples, batch)]
        starts = range(0, steps, chunk)

        def frame(group, t):  # one step [S, *input] or a chunk [S, K, *input]
            return x[group, t] if chunk == 1 else x[group, t:t + chunk]

        session.step(frame(groups[0], 0), [ids[i] for i in groups[0]])  # warm-up, then start over
        session.reset(ids)
        times, done = [], 0
        began = time.perf_counter()
        for t, group in itertools.product(starts, groups):
            start = time.perf_counter()
            if start - began >= duration:
                break
            session.step(frame(group, t), [ids[i] for i in group])
            times.append(time.perf_counter() - start)
            done += len(group) * min(chunk, steps - t)
        seconds = time.perf_counter() - began
    finally:
        session.close(ids)
    return {"framework": "onnxruntime", "server": "in-process", "backend": None, "strategy": None,
            "instances": 1, "batch": batch, "capped": done < samples * steps, "errors": 0,
            **dict.fromkeys(TRITON_ONLY),
            **_figures(times, done, seconds)}


def _triton(plan: ServePlan, x: np.ndarray, on_row=None) -> dict[int, dict]:
    """One Triton row per chunk size of ``plan``, on one server."""
    serving, sequences = plan.serving, len(x)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="snudeploy-bench-serve-") as folder:
        written = repository.write(plan.model, folder, serving)
        with TritonServer(written.path("python")) as server:
            url = server.endpoints.grpc_url
            for run, chunk in enumerate(plan.chunks):
                first_id = 1 + 2 * run * sequences
                warm = x[:, :WARMUP_STEPS] if chunk == 1 else x[:, :chunk]
                client.stream(url, serving.name, warm, concurrency=sequences, first_id=first_id + sequences,
                              chunk=chunk)
                before, cpu = _statistics(server.endpoints, serving.name), _cpu(server.pid)
                result = client.stream(url, serving.name, x, concurrency=plan.sequences, first_id=first_id,
                                       deadline=time.monotonic() + plan.duration, chunk=chunk)
                cpu = {key: value - cpu[key] for key, value in _cpu(server.pid).items()}
                server_side = _server_side(before, _statistics(server.endpoints, serving.name))
                requests = max(len(result.latencies), 1)
                server_side.update({f"{key}_cpu_us": round(seconds / requests * 1e6, 1) for key, seconds in cpu.items()})
                server_side["cores"] = round(sum(cpu.values()) / result.seconds, 2) if result.seconds else None
                rows[chunk] = {"framework": "triton", "server": "triton", "backend": "python",
                               "strategy": serving.strategy, "instances": serving.instances,
                               "batch": serving.max_batch, "errors": len(result.errors),
                               "capped": result.steps + len(result.errors) * chunk < x.shape[0] * x.shape[1],
                               **server_side, **_figures(result.latencies, result.steps, result.seconds)}
                if on_row:
                    on_row()
    return rows


def _statistics(endpoints, model: str) -> dict:
    """Triton's cumulative inference statistics of ``model`` (counts and nanoseconds), and the Python model's own
    counters from the metrics endpoint (:data:`snudeploy.serve.python_backend.METRICS`, microseconds)."""
    from tritonclient.grpc import InferenceServerClient

    with InferenceServerClient(endpoints.grpc_url) as connection:
        stats = connection.get_inference_statistics(model, as_json=True)["model_stats"][0]
    durations = stats["inference_stats"]
    taken = {key: (int(durations[key].get("count", 0)), int(durations[key].get("ns", 0)))
             for key in ("success", "queue", "compute_input", "compute_infer", "compute_output")}
    with urllib.request.urlopen(f"http://{endpoints.host}:{endpoints.metrics}/metrics", timeout=10) as response:
        text = response.read().decode()
    counters = {}
    for key, (name, _) in METRICS.items():
        values = re.findall(rf'^{name}{{[^}}]*model="{re.escape(model)}"[^}}]*}} ([0-9.e+-]+)$', text, re.M)
        counters[key] = sum(float(v) for v in values)
    return {**taken, **counters, "executions": int(stats.get("execution_count", 0))}


def _server_side(before: dict, after: dict) -> dict:
    """Per request of the timed part: microseconds queued, in the backend, in the Python model's execute and in
    the model; requests per execution."""
    requests = after["success"][0] - before["success"][0]
    executions = after["executions"] - before["executions"]
    if not requests or not executions:
        return {"queue_us": None, "backend_us": None, "execute_us": None, "model_us": None,
                "requests_per_execution": None}

    def triton(*keys):
        return round(sum(after[k][1] - before[k][1] for k in keys) / requests / 1e3, 1)

    return {"queue_us": triton("queue"), "backend_us": triton("compute_input", "compute_infer", "compute_output"),
            "execute_us": round((after["execute"] - before["execute"]) / requests, 1),
            "model_us": round((after["model"] - before["model"]) / requests, 1),
            "requests_per_execution": round(requests / executions, 2)}


def _cpu(server: int) -> dict[str, float]:
    """CPU seconds used so far by this process (the client), the ``tritonserver`` process ``server``, and its
    children (the Python stubs), from ``/proc`` (the wheel's Triton runs on Linux only)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(pid) -> list[str]:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()  # fields from state on: ppid [1], utime [11], stime [12]

    stubs = 0.0
    for entry in os.listdir("/proc"):
        try:
            fields = stat(entry) if entry.isdigit() else None
        except OSError:  # gone meanwhile
            continue
        if fields and int(fields[1]) == server:
            stubs += (int(fields[11]) + int(fields[12])) / ticks
    fields = stat(server)
    return {"client": time.process_time(), "server": (int(fields[11]) + int(fields[12])) / ticks, "stub": stubs}


def _figures(seconds_per_call, stream_steps: int, wall: float) -> dict:
    us = np.asarray(seconds_per_call, np.float64) * 1e6
    p50, p99 = (np.percentile(us, [50, 99]) if us.size else (math.nan, math.nan))
    return {"samples": int(us.size), "stream_steps": int(stream_steps), "seconds": round(wall, 4),
            "p50_us": round(float(p50), 2), "p99_us": round(float(p99), 2),
            "mean_us": round(float(us.mean()) if us.size else math.nan, 2),
            "throughput": round(stream_steps / wall, 1) if wall > 0 else 0.0}
