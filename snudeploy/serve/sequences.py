"""Triton sequences on a :class:`~snudeploy.runtime.StreamingSession`: one stream per correlation id.

Triton's sequence batcher sends a model instance batches of requests, each one time step
of one sequence, tagged with the controls START, END, READY and CORRID. This table turns
such a batch into one ``StreamingSession.step`` call:

* READY = 0 marks an empty batch slot (the ``direct`` strategy fills unused slots below
  the highest busy one with such requests, CORRID 0): skipped, no stream touched;
* START opens a stream for the correlation id, first closing the one it had (a reused id
  starts from zero state);
* the other requests step the stream of their id; an id without a stream (evicted, or
  never started) gets an error for that request alone;
* END closes the stream after its step (also when that step failed: Triton ends the
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

from ..errors import SnudeployError, UnknownStreamError
from ..runtime import StreamingSession

IDLE_MARGIN = 1.0  # seconds beyond Triton's idle limit before a silent stream is closed


@dataclass(frozen=True)
class Request:
    """One request of a batch: its controls and its time step ``x`` ``[F]`` (or ``[1, F]``)."""
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
    """

    def __init__(self, session: StreamingSession, idle_seconds: float,
                 clock: Callable[[], float] = time.monotonic):
        self.session = session
        self._limit = idle_seconds + IDLE_MARGIN
        self._clock = clock
        self._streams: dict[int, int] = {}   # corrid -> stream id
        self._seen: dict[int, float] = {}    # corrid -> last step time

    @property
    def sequences(self) -> list[int]:
        """Correlation ids with an open stream."""
        return list(self._streams)

    def step(self, requests: list[Request]) -> list[np.ndarray | Exception | None]:
        """Step every ready request; return per request its spikes ``[C]``, its error, or None (empty slot)."""
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
        if not requests:
            return []
        corrids = [r.corrid for r in requests]
        if len(set(corrids)) == len(corrids):  # Triton never batches two steps of one sequence
            try:
                x = np.stack([np.reshape(r.x, -1) for r in requests])
                return list(self.session.step(x, [self._streams[c] for c in corrids]))
            except (SnudeployError, ValueError):  # one bad request: find it below
                pass
        return [self._step_one(r) for r in requests]

    def _step_one(self, request: Request):
        try:
            return self.session.step(np.reshape(request.x, (1, -1)), [self._streams[request.corrid]])[0]
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
