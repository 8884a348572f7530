"""What a latency benchmark times: one callable per row, doing one step or one whole sequence.

Models run through the runtime API, exactly as an application would call it:
``StreamingSession.step`` on ``batch`` open streams (the IOBinding fast path engages from
the second call, as in any stream) or ``StreamingSession.run`` on whole sequences (the
sequence graph, or the step graph rolled over T). The LSTM baseline runs the same way
(:mod:`.lstm_onnx`).

Inputs are rate-encoded uniform random images: the dense kernels ONNX Runtime and
TensorFlow run cost the same whatever the spike values, so real data is not needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..encoding import encode_rate
from ..errors import ProviderError
from ..runtime import StreamingSession
from ..runtime.providers import PROVIDERS


@dataclass(frozen=True)
class Candidate:
    """One latency row: its identifying fields (see ``schema.LATENCY``) and the call to time."""
    row: dict
    call: Callable[[], object]


class FloorStep:
    """The floor of a step graph: a bare IOBinding ping-pong on its session, no runtime around it.

    What any caller of ONNX Runtime pays per step at least: copy the frame in, one
    ``run_with_iobinding`` on buffers that swap roles. ``StreamingSession.step`` adds stream
    bookkeeping and input checks on top; the two rows side by side show what that costs.
    """

    def __init__(self, engine, x: np.ndarray):
        self._batch = engine.bind(x.shape[0])
        self._frames = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(x.shape[1], *self._batch.x.shape)
        self._run = engine.session.run_with_iobinding
        self._bindings = self._batch.bindings
        self._t = 0

    def __call__(self):
        np.copyto(self._batch.x, self._frames[self._t % len(self._frames)])
        self._run(self._bindings[self._t & 1])
        self._t += 1


def spike_inputs(batch: int, timesteps: int, features: int, max_spikes: float, seed: int = 0) -> np.ndarray:
    """Rate-encoded random images as uint8 spikes ``[batch, timesteps, features]``, as an application has them."""
    images = np.random.default_rng(seed).random((batch, features), dtype=np.float32)
    return encode_rate(images, timesteps, min(max_spikes, timesteps), seed)


class StreamStep:
    """One ``StreamingSession.step`` of ``batch`` open streams, cycling through the frames of ``x [B, T, F]``
    one step at a time, or ``chunk`` steps at a time (T a multiple of ``chunk``)."""

    def __init__(self, session: StreamingSession, x: np.ndarray, chunk: int = 1):
        batch, timesteps = x.shape[:2]
        shape = session.input_shape  # the session's fast path takes frames in the model's input shape
        if chunk == 1:
            self._frames = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(timesteps, batch, *shape)
        else:  # [T / K chunks, B, K, *input]
            self._frames = np.ascontiguousarray(x.reshape(batch, timesteps // chunk, chunk, -1).transpose(1, 0, 2, 3)
                                                ).reshape(timesteps // chunk, batch, chunk, *shape)
        self._session = session
        self._ids = session.open(batch)
        self._t = 0

    def __call__(self):
        frame = self._frames[self._t]
        self._t = (self._t + 1) % len(self._frames)
        return self._session.step(frame, self._ids)


def streaming_session(model, provider: str, threads: int) -> StreamingSession:
    """A session on exactly ``provider`` ("cpu"/"cuda"): a benchmark must not fall back silently.

    Multi-threaded sessions do not spin: rows are timed interleaved, and an idle session's
    spinning workers would take the cores from the session being timed.
    """
    session = StreamingSession(model, providers=[PROVIDERS[provider]], threads=threads, spinning=threads == 1)
    if session.provider != PROVIDERS[provider]:
        raise ProviderError(f"Asked ONNX Runtime for {PROVIDERS[provider]}, but it runs {session.provider}; "
                            "a benchmark does not fall back.")
    return session
