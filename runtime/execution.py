"""The IOBinding fast path: a fixed batch of streams whose state stays in OrtValues.

Step t's state outputs are step t+1's state inputs, so two sets of OrtValues swap roles
each step: a stream set that is stepped repeatedly pays one input copy and one output copy
per step and no allocation. The parity flips only after a call succeeded, so a failed or
stopped call leaves the current state where it was.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


class BoundBatch:
    """A fixed batch of B streams bound to an :class:`~.engine.Engine`.

    Args:
        engine: the model and its session.
        batch: B, the number of streams.
    """

    def __init__(self, engine, batch: int):
        self._engine = engine
        model, device = engine.model, engine.device
        features, classes = model.info.features, model.info.classes
        time = (1,) if model.sequence else ()
        self._x = ort.OrtValue.ortvalue_from_shape_and_type((batch, *time, features), np.float32, device, 0)
        self._spikes = ort.OrtValue.ortvalue_from_shape_and_type((batch, *time, classes), np.float32, "cpu", 0)
        buffers = [{s.input: ort.OrtValue.ortvalue_from_shape_and_type((batch, s.units), np.float32, device, 0)
                    for s in model.states} for _ in range(2)]
        self._bindings = []
        for current, following in ((buffers[0], buffers[1]), (buffers[1], buffers[0])):
            binding = engine.session.io_binding()
            binding.bind_ortvalue_input(model.input, self._x)
            for s in model.states:
                binding.bind_ortvalue_input(s.input, current[s.input])
                binding.bind_ortvalue_output(s.output, following[s.input])
            binding.bind_ortvalue_output(model.spikes, self._spikes)
            self._bindings.append(binding)
        self._buffers = buffers
        self._shape = (batch, *time, features)
        self._sequence = model.sequence
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
        self._engine.run_bound(self._bindings[self._parity])
        self._parity ^= 1  # only after success: a failed run leaves the state where it was
        spikes = self._spikes.numpy()  # a view of the bound buffer, overwritten next step
        return (spikes[:, 0, :] if self._sequence else spikes).copy()
