"""Streaming sequences through a Triton-served snudeploy model over gRPC, many interleaved.

Each sequence is a client-side loop over chunks of ``chunk`` steps: a request carries
``x[t:t + K]`` as ``[1, K, *input]`` (K = ``chunk``, the last one shorter when ``chunk`` does
not divide T), the sequence's correlation id, START on the first chunk and END on the last,
and is sent when the previous chunk has answered (a stream's steps are ordered).
``concurrency`` such loops run at once on one asyncio event loop over one gRPC channel, so
the server sees requests of many sequences interleaved and batches them.

Correlation ids are ``first_id + i`` for sample i; two clients of one server must use
disjoint ranges (0 is reserved by Triton for "no sequence").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import arguments
from ..errors import ServingError
from ..extras import require


@dataclass(frozen=True)
class StreamResult:
    """Output spikes summed per sample ``[N, C]``, per-request latencies in seconds, wall time, stream-steps
    answered (the steps of the requests that succeeded), errors."""
    counts: np.ndarray
    latencies: np.ndarray
    seconds: float
    steps: int
    errors: list[str]

    @property
    def requests(self) -> int:
        """Requests answered."""
        return len(self.latencies)

    def accuracy(self, labels: np.ndarray) -> float:
        """Argmax of the summed spikes (ties to the lower class), as ``snudeploy run``."""
        return float(np.mean(self.counts.argmax(axis=1) == labels))


def stream(url: str, model: str, spikes: np.ndarray, concurrency: int = 32, first_id: int = 1,
           deadline: float | None = None, on_sample: Callable[[], None] | None = None,
           chunk: int = 1) -> StreamResult:
    """Stream every sample of ``spikes`` ``[N, T, *input]`` as one sequence; ``concurrency`` sequences at once.

    Args:
        url: the server's gRPC ``host:port``.
        model: the model's name in Triton.
        deadline: ``time.monotonic()`` after which no sequence starts and running ones send END
            with their next chunk (a bounded load test); None runs everything.
        on_sample: called after each finished sequence (progress).
        chunk: time steps per request (the server's ``--max-chunk`` at most).

    Raises:
        ServingError: the server cannot be reached or refuses the model; request errors are
            returned in ``errors`` (their sequences stop there).
    """
    require("serve", "The Triton client")
    spikes = np.asarray(spikes, np.float32)
    if spikes.ndim < 3:
        raise ServingError(f"Expected spikes [N, T, *input], got shape {list(spikes.shape)}.")
    concurrency = arguments.limited(concurrency, "concurrency", "batch")
    first_id = arguments.integer(first_id, "first_id", 1)
    chunk = arguments.limited(chunk, "chunk", "timesteps")
    return asyncio.run(_stream(url, model, spikes, concurrency, first_id, deadline, on_sample, chunk))


async def _stream(url, model, spikes, concurrency, first_id, deadline, on_sample, chunk) -> StreamResult:
    from tritonclient.grpc import InferInput
    from tritonclient.grpc.aio import InferenceServerClient
    from tritonclient.utils import InferenceServerException

    samples, timesteps = spikes.shape[:2]
    latencies, errors, todo, answered = [], [], iter(range(samples)), 0
    client = InferenceServerClient(url)
    try:
        try:
            metadata = await client.get_model_metadata(model, as_json=True)
        except InferenceServerException as e:
            raise ServingError(f"Triton at {url} does not serve model {model!r}: {e.message()}") from None
        name, output = metadata["inputs"][0]["name"], metadata["outputs"][0]
        counts = np.zeros((samples, int(output["shape"][-1])), np.float64)

        async def sequence(i: int) -> None:
            nonlocal answered
            for t in range(0, timesteps, chunk):
                part = spikes[i, t:t + chunk][None]  # [1, K, *input]
                last = t + chunk >= timesteps or (deadline is not None and time.monotonic() >= deadline)
                x = InferInput(name, list(part.shape), "FP32")
                x.set_data_from_numpy(part)
                start = time.perf_counter()
                try:
                    result = await client.infer(model, [x], sequence_id=first_id + i, sequence_start=t == 0,
                                                sequence_end=last)
                except InferenceServerException as e:
                    errors.append(f"sample {i} steps {t}-{t + part.shape[1] - 1}: {e.message()}")
                    return
                latencies.append(time.perf_counter() - start)
                counts[i] += result.as_numpy(output["name"])[0].sum(axis=0)
                answered += part.shape[1]
                if last:
                    return

        async def worker() -> None:
            for i in todo:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                await sequence(i)
                if on_sample:
                    on_sample()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, samples))))
        seconds = time.perf_counter() - began
    finally:
        await client.close()
    return StreamResult(counts, np.asarray(latencies), seconds, answered, errors)
