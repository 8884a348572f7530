"""Triton sequences on a :class:`~snudeploy.runtime.StreamingSession`: one stream per correlation id.

Triton's sequence batcher sends a model instance batches of requests, each a chunk of K
consecutive time steps of one sequence, tagged with the controls START, END, READY and
CORRID. This table turns such a batch into one ``StreamingSession.step`` call per chunk
length (Triton batches only requests of equal shape, so normally one call):

* READY = 0 marks an empty batch slot (the ``direct`` strategy fills unused slots below
  the highest busy one with such requests, CORRID 0): skipped, no stream touched;
* START opens a stream for the correlation id, first closing the one it had (a reused id
  starts from zero state);
* the other requests step the stream of their id by their chunk; an id without a stream
  (evicted, or never started) or a chunk longer than ``max_chunk`` gets an error for that
  request alone;
* END closes the stream after its chunk (also when that chunk failed: Triton ends the
  sequence either way);
* Triton evicts a sequence idle for ``max_sequence_idle_microseconds`` without telling the
  model, so streams not stepped for ``idle_seconds`` (plus a margin) are closed at the next
  batch. Triton stamps a sequence when a request arrives, before the model sees it, so it
  always evicts first; ids in the current batch are alive whatever their age.

A bad request (NaN, wrong width) must not fail its neighbours: the batch is stepped in
one call, and only when that call raises (which changes no state) is each request
stepped alone, so the error lands on the request that caused it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputShapeError, SnudeployError, UnknownStreamError
from ..runtime import StreamingSession
from ..runtime.inputs import chunk_ranks
from .config import MAX_CHUNK

IDLE_MARGIN = 1.0  # seconds beyond Triton's idle limit before a silent stream is closed


@dataclass(frozen=True)
class Request:
    """One request of a batch: its controls and its chunk ``x`` ``[1, K, *input]`` (as Triton passes it) or
    ``[K, *input]``."""
    corrid: int
    start: bool
    end: bool
    ready: bool
    x: np.ndarray


class SequenceStreams:
    """The streams of one model instance, keyed by correlation id.

    Args:
        session: the instance's session (its open streams belong to this table).
        idle_seconds: Triton's ``max_sequence_idle_microseconds``, in seconds.
        clock: monotonic seconds (tests pass a fake one).
        max_chunk: the most steps one request may carry.
    """

    def __init__(self, session: StreamingSession, idle_seconds: float,
                 clock: Callable[[], float] = time.monotonic, max_chunk: int = MAX_CHUNK):
        self.session = session
        self.max_chunk = max_chunk
        self._limit = idle_seconds + IDLE_MARGIN
        self._clock = clock
        self._streams: dict[int, int] = {}   # corrid -> stream id
        self._seen: dict[int, float] = {}    # corrid -> last step time

    @property
    def sequences(self) -> list[int]:
        """Correlation ids with an open stream."""
        return list(self._streams)

    def step(self, requests: list[Request]) -> list[np.ndarray | Exception | None]:
        """Step every ready request by its chunk; return per request its spikes ``[K, C]``, its error, or None
        (empty slot)."""
        now = self._clock()
        live = [i for i, r in enumerate(requests) if r.ready]
        self._evict_idle(now, {requests[i].corrid for i in live})
        results: list = [None] * len(requests)
        for i in live:
            if requests[i].start:
                self._open(requests[i].corrid, now)
        runnable = []
        for i in live:
            if requests[i].corrid in self._streams:
                runnable.append(i)
            else:
                results[i] = UnknownStreamError(
                    f"Sequence {requests[i].corrid} has no stream in this model instance (it ended, was evicted "
                    "after being idle, or never started): send its first request with START.")
        for i, outcome in zip(runnable, self._step([requests[i] for i in runnable])):
            results[i] = outcome
            self._seen[requests[i].corrid] = now
        for i in live:
            if requests[i].end:
                self._close(requests[i].corrid)
        return results

    def close_all(self) -> None:
        for corrid in list(self._streams):
            self._close(corrid)

    # -- internals ------------------------------------------------------------------------

    def _step(self, requests: list[Request]) -> list:
        results: list = [None] * len(requests)
        chunks, groups = {}, {}
        for i, request in enumerate(requests):
            try:
                chunks[i] = self._chunk(request.x)
                groups.setdefault(chunks[i].shape, []).append(i)
            except SnudeployError as e:
                results[i] = e
        for members in groups.values():  # one call per chunk shape; Triton never batches two requests of one sequence
            streams = [self._streams[requests[i].corrid] for i in members]
            try:
                for i, spikes in zip(members, self.session.step(np.stack([chunks[i] for i in members]), streams)):
                    results[i] = spikes
                continue
            except (SnudeployError, ValueError):  # one bad request: find it below
                pass
            for i, stream in zip(members, streams):
                results[i] = self._step_one(chunks[i], stream)
        return results

    def _chunk(self, x) -> np.ndarray:
        """A request's ``x`` as a chunk ``[K, *input]``, K at most ``max_chunk``."""
        x = np.asarray(x)
        if x.ndim == len(self.session.input_shape) + 2 and x.shape[0] == 1:
            x = x[0]  # Triton's batch axis of one request
        if x.ndim + 1 in chunk_ranks(self.session.input_shape) and x.shape[0] > self.max_chunk:
            raise InputShapeError(f"A request carries at most {self.max_chunk} time steps (--max-chunk), got "
                                  f"{x.shape[0]} (input of shape {list(x.shape)}).")
        return x

    def _step_one(self, chunk: np.ndarray, stream: int):
        try:
            return self.session.step(chunk[None], [stream])[0]
        except (SnudeployError, ValueError) as e:
            return e

    def _open(self, corrid: int, now: float) -> None:
        self._close(corrid)
        self._streams[corrid] = self.session.open(1)[0]
        self._seen[corrid] = now

    def _close(self, corrid: int) -> None:
        stream = self._streams.pop(corrid, None)
        self._seen.pop(corrid, None)
        if stream is not None:
            self.session.close([stream])

    def _evict_idle(self, now: float, alive: set[int]) -> None:
        for corrid, seen in list(self._seen.items()):
            if corrid not in alive and now - seen > self._limit:
                self._close(corrid)
