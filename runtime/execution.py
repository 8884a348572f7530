"""One time step on ONNX Runtime: the plain ``run`` path and the IOBinding fast path.

Both take a batch of B streams: ``x`` float32 ``[B, F]`` (reshaped to ``[B, 1, F]`` for
sequence graphs stepped with T=1) and the states ``{input name: [B, units]}``, and give
that step's output spikes ``[B, C]`` and the next states. The plain path copies the states
from numpy into ONNX Runtime and back every step. :class:`BoundBatch` keeps them in two
sets of OrtValues that swap roles each step (step t's state outputs are step t+1's state
inputs), so a stream set that is stepped repeatedly pays one input copy and one output
copy per step and no allocation.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from .model import LoadedModel


def plain_step(session: ort.InferenceSession, model: LoadedModel, x: np.ndarray,
               states: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Advance ``states`` by one step with ``x [B, F]``; return (spikes [B, C], next states)."""
    feed = {model.input: x[:, None, :] if model.sequence else x}
    feed.update((s.input, states[s.input]) for s in model.states)
    fetched = session.run([model.spikes] + [s.output for s in model.states], feed)
    spikes = fetched[0][:, 0, :] if model.sequence else fetched[0]
    return spikes, {s.input: value for s, value in zip(model.states, fetched[1:])}


class BoundBatch:
    """A fixed batch of streams whose state stays in OrtValues between steps.

    Args:
        session: the ONNX Runtime session.
        model: the loaded model (tensor names, graph kind).
        batch: B, the number of streams.
        device: "cpu" or "cuda": where the input and state buffers live.
    """

    def __init__(self, session: ort.InferenceSession, model: LoadedModel, batch: int, device: str):
        self._session = session
        self._model = model
        features, classes = model.info.features, model.info.classes
        time = (1,) if model.sequence else ()
        self._x = ort.OrtValue.ortvalue_from_shape_and_type((batch, *time, features), np.float32, device, 0)
        self._spikes = ort.OrtValue.ortvalue_from_shape_and_type((batch, *time, classes), np.float32, "cpu", 0)
        buffers = [{s.input: ort.OrtValue.ortvalue_from_shape_and_type((batch, s.units), np.float32, device, 0)
                    for s in model.states} for _ in range(2)]
        self._bindings = []
        for current, following in ((buffers[0], buffers[1]), (buffers[1], buffers[0])):
            binding = session.io_binding()
            binding.bind_ortvalue_input(model.input, self._x)
            for s in model.states:
                binding.bind_ortvalue_input(s.input, current[s.input])
                binding.bind_ortvalue_output(s.output, following[s.input])
            binding.bind_ortvalue_output(model.spikes, self._spikes)
            self._bindings.append(binding)
        self._buffers = buffers
        self._shape = (batch, *time, features)
        self._parity = 0  # buffers[parity] holds the current state

    def load(self, states: dict[str, np.ndarray]) -> None:
        """Copy numpy states ``{input name: [B, units]}`` into the current buffers."""
        for name, value in self._buffers[self._parity].items():
            value.update_inplace(np.ascontiguousarray(states[name], np.float32))

    def states(self) -> dict[str, np.ndarray]:
        """The current states as numpy copies."""
        return {name: value.numpy().copy() for name, value in self._buffers[self._parity].items()}

    def step(self, x: np.ndarray) -> np.ndarray:
        """One step with ``x [B, F]`` float32; return a copy of the output spikes ``[B, C]``."""
        self._x.update_inplace(x.reshape(self._shape))
        self._session.run_with_iobinding(self._bindings[self._parity])
        self._parity ^= 1  # only after success: a failed run leaves the state where it was
        spikes = self._spikes.numpy()  # a view of the bound buffer, overwritten next step
        return (spikes[:, 0, :] if self._model.sequence else spikes).copy()
