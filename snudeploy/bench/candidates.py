"""What a latency benchmark times: one callable per row, doing one step or one whole sequence.

snudeploy models run through the runtime API, exactly as an application would call it:
``StreamingSession.step`` on ``batch`` open streams (the IOBinding fast path engages from
the second call, as in any stream) or ``StreamingSession.run`` on whole sequences (the
sequence graph, or the step graph rolled over T). A foreign step graph with explicit
state (the LSTM baseline's tf2onnx export, which carries no snudeploy metadata) runs on a
bare ONNX Runtime session with its states fed back as numpy arrays each step.

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

ORT_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass(frozen=True)
class Candidate:
    """One latency row: its identifying fields (see ``schema.LATENCY``) and the call to time."""
    row: dict
    call: Callable[[], object]


def spike_inputs(batch: int, timesteps: int, features: int, max_spikes: float, seed: int = 0) -> np.ndarray:
    """Rate-encoded random images as float32 ``[batch, timesteps, features]``."""
    images = np.random.default_rng(seed).random((batch, features), dtype=np.float32)
    return encode_rate(images, timesteps, min(max_spikes, timesteps), seed).astype(np.float32)


class StreamStep:
    """One ``StreamingSession.step`` of ``batch`` open streams, cycling through the frames of ``x [B, T, F]``."""

    def __init__(self, session: StreamingSession, x: np.ndarray):
        self._session = session
        self._frames = np.ascontiguousarray(x.transpose(1, 0, 2))
        self._ids = session.open(x.shape[0])
        self._t = 0

    def __call__(self):
        frame = self._frames[self._t]
        self._t = (self._t + 1) % len(self._frames)
        return self._session.step(frame, self._ids)


class BareStep:
    """One step of a step graph with explicit state on a bare ONNX Runtime session.

    Args:
        session: the ``onnxruntime.InferenceSession``.
        pairs: ``(state input, state output)`` names, with the state widths in ``units``.
        output: the name of the step's output.
        x: inputs ``[B, T, F]``; calls cycle through its T frames.
        rolled: when True one call runs all T frames from zero state (a whole sequence).
    """

    def __init__(self, session, pairs: list[tuple[str, str]], units: list[int], output: str, x: np.ndarray,
                 rolled: bool = False):
        self._session = session
        self._pairs = pairs
        self._fetch = [output] + [out for _, out in pairs]
        self._zeros = {name: np.zeros((x.shape[0], u), np.float32) for (name, _), u in zip(pairs, units)}
        self._states = dict(self._zeros)
        self._frames = np.ascontiguousarray(x.transpose(1, 0, 2))
        self._rolled = rolled
        self._t = 0

    def _step(self, frame: np.ndarray) -> np.ndarray:
        fetched = self._session.run(self._fetch, {"x": frame, **self._states})
        self._states = {name: value for (name, _), value in zip(self._pairs, fetched[1:])}
        return fetched[0]

    def __call__(self):
        if not self._rolled:
            frame = self._frames[self._t]
            self._t = (self._t + 1) % len(self._frames)
            return self._step(frame)
        self._states = dict(self._zeros)
        total = sum(self._step(frame) for frame in self._frames)
        return total / len(self._frames)


def streaming_session(path, provider: str, threads: int) -> StreamingSession:
    """A session on exactly ``provider`` ("cpu"/"cuda"): a benchmark must not fall back silently."""
    session = StreamingSession(path, providers=[ORT_PROVIDERS[provider]], threads=threads)
    if session.provider != ORT_PROVIDERS[provider]:
        raise ProviderError(f"{path}: asked ONNX Runtime for {ORT_PROVIDERS[provider]}, but it runs "
                            f"{session.provider}; a benchmark does not fall back.")
    return session


def bare_session(model_bytes: bytes, provider: str, threads: int):
    """A plain ONNX Runtime session with the same thread settings the runtime uses."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    wanted = [ORT_PROVIDERS[provider]] + (["CPUExecutionProvider"] if provider != "cpu" else [])
    session = ort.InferenceSession(model_bytes, options, providers=wanted)
    if session.get_providers()[0] != ORT_PROVIDERS[provider]:
        raise ProviderError(f"ONNX Runtime runs the LSTM step on {session.get_providers()[0]}, "
                            f"not {ORT_PROVIDERS[provider]}; a benchmark does not fall back.")
    return session
