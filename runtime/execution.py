"""The IOBinding fast path: a fixed batch of streams whose state stays bound between steps.

Step t's state outputs are step t+1's state inputs, so two state buffer sets swap roles
each step: a stream set that is stepped repeatedly pays one input copy and one output copy
per step and no allocation. On the CPU every buffer is a numpy array that ONNX Runtime
reads and writes in place (an OrtValue over the same memory), so the input is copied in
with ``np.copyto``, the spikes are read without a call, and one dot product over the new
states (NaN and Inf propagate through it) tells whether the step may be kept. The parity
flips only after a step succeeded and its states are finite, so a failed, stopped or
overflowing call leaves the current state where it was.

A bound batch also takes chunks of K steps (:meth:`BoundBatch.chunk`): the chunk engine's
session (:meth:`.engine.Engine.chunks`) is bound to the same two state buffer sets, so the
streams' states stay where they are whether they are stepped or chunked; only the input and
the spikes ``[B, K, ...]`` are bound anew each call, around the caller's arrays.

The batch also counts its own output spikes and steps (and keeps their running maximum,
for the membrane readout); :meth:`BoundBatch.take_counts` hands them to the stream table
when a readout or another call needs them.
"""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort

from ..errors import InputValueError

FLUSH_STEPS = 1 << 20  # float32 counts stay exact below 2**24

class BoundBatch:
    """A fixed batch of B streams bound to an :class:`~.engine.Engine`.

    Args:
        engine: the model and its session.
        batch: B, the number of streams.
    """

    def __init__(self, engine, batch: int):
        self._engine = engine
        model, device = engine.model, engine.device
        info = model.info
        time = (1,) if model.sequence else ()
        self.size = batch
        self._host = device == "cpu"
        self._x = np.zeros((batch, *time, *info.input.shape), np.float32)
        self.x = self._x[:, 0] if model.sequence else self._x  # [B, *input shape]: write the step's input here
        self._spikes = np.zeros((batch, *time, *info.output_shape), np.float32)
        self.spikes = self._spikes[:, 0] if model.sequence else self._spikes
        widths = [s.units for s in model.states]
        offsets = np.cumsum([0, *(batch * u for u in widths)])
        self._flat = [np.zeros(int(offsets[-1]), np.float32) for _ in range(2)]
        views = [{s.input: flat[offsets[i]:offsets[i + 1]].reshape(batch, *s.shape)
                  for i, s in enumerate(model.states)} for flat in self._flat]
        if self._host:
            x_value = ort.OrtValue.ortvalue_from_numpy(self._x)
            spikes_value = ort.OrtValue.ortvalue_from_numpy(self._spikes)
            values = [{name: ort.OrtValue.ortvalue_from_numpy(view) for name, view in set_.items()} for set_ in views]
        else:
            x_value = ort.OrtValue.ortvalue_from_shape_and_type(self._x.shape, np.float32, device, 0)
            spikes_value = ort.OrtValue.ortvalue_from_numpy(self._spikes)
            values = [{s.input: ort.OrtValue.ortvalue_from_shape_and_type((batch, *s.shape), np.float32, device, 0)
                       for s in model.states} for _ in range(2)]
        self._x_value, self._views, self._values = x_value, views, values
        self._bindings = self._state_bindings(engine.session)
        for binding in self._bindings:
            binding.bind_ortvalue_input(model.input, x_value)
            binding.bind_ortvalue_output(model.spikes, spikes_value)
        self._chunk_bindings = None  # made at the first chunk
        self._parity = 0  # set [parity] holds the current state
        self._untimed = engine.run_timeout is None
        self._run, self._dot, self._add = engine.session.run_with_iobinding, np.dot, np.add
        self.counts = np.zeros((batch, info.classes), np.float32)  # exact: flushed before 2**24 steps
        self.readout = info.readout
        self.peak = np.full((batch, info.classes), -np.inf, np.float32) if not info.readout.spiking else None
        self.steps = 0

    def _state_bindings(self, session) -> list:
        """Two IOBindings of ``session``: state set 0 -> set 1, and set 1 -> set 0."""
        bindings = []
        for current, following in ((self._values[0], self._values[1]), (self._values[1], self._values[0])):
            binding = session.io_binding()
            for s in self._engine.model.states:
                binding.bind_ortvalue_input(s.input, current[s.input])
                binding.bind_ortvalue_output(s.output, following[s.input])
            bindings.append(binding)
        return bindings

    @property
    def bindings(self) -> tuple:
        """The two IOBindings (current -> following state buffers, and back); for floor measurements."""
        return tuple(self._bindings)

    def load(self, states: dict[str, np.ndarray]) -> None:
        """Copy numpy states ``{input name: [B, *shape]}`` into the current buffers."""
        for name, value in self._values[self._parity].items():
            if self._host:
                np.copyto(self._views[self._parity][name], states[name], casting="unsafe")
            else:
                value.update_inplace(np.ascontiguousarray(states[name], np.float32))

    def states(self) -> dict[str, np.ndarray]:
        """The current states as numpy copies."""
        if self._host:
            return {name: view.copy() for name, view in self._views[self._parity].items()}
        return {name: value.numpy().copy() for name, value in self._values[self._parity].items()}

    def step(self) -> np.ndarray:
        """One step with the input already in :attr:`x`; return the output spikes ``[B, C]`` (a view,
        overwritten by the next step). Counts them.

        Raises:
            InputValueError: the step would make a state NaN or Inf (nothing changes).
            InferenceError: ONNX Runtime failed (nothing changes).
        """
        parity = self._parity
        if not self._host:
            self._x_value.update_inplace(self._x)
        if self._untimed:  # the common case, without the engine's extra frame
            try:
                self._run(self._bindings[parity])
            except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own exception types
                raise self._engine.error(e) from None
        else:
            self._engine.run_bound(self._bindings[parity])
        self._keep(parity, "step", "it was not applied")
        self._add(self.counts, self.spikes, out=self.counts)
        if self.peak is not None:
            np.maximum(self.peak, self.spikes, out=self.peak)
        self.steps += 1
        return self.spikes

    def chunk(self, x: np.ndarray) -> np.ndarray:
        """K steps of ``x [B, K, *input shape]`` (float32, C-contiguous) in one call; return the output
        spikes ``[B, K, C]`` (a new array). Counts them.

        Raises:
            InputValueError: a step would make a state NaN or Inf (nothing changes).
            InferenceError: ONNX Runtime failed (nothing changes).
        """
        chunks = self._engine.chunks
        if self._chunk_bindings is None:
            self._chunk_bindings = self._state_bindings(chunks.session)
        parity = self._parity
        binding = self._chunk_bindings[parity]
        spikes = np.empty((*x.shape[:2], *self.spikes.shape[1:]), np.float32)
        binding.bind_ortvalue_input(chunks.model.input, ort.OrtValue.ortvalue_from_numpy(x))
        binding.bind_ortvalue_output(chunks.model.spikes, ort.OrtValue.ortvalue_from_numpy(spikes))
        chunks.run_bound(binding)
        self._keep(parity, "chunk", "none of its steps was applied")
        self._add(self.counts, spikes.sum(axis=1), out=self.counts)
        if self.peak is not None:
            np.maximum(self.peak, spikes.max(axis=1), out=self.peak)
        np.copyto(self.spikes, spikes[:, -1])  # the last step's spikes, as after a step
        self.steps += x.shape[1]
        return spikes

    def _keep(self, parity: int, what: str, applied: str) -> None:
        """Make the states a call wrote into set ``parity ^ 1`` current, unless one is not finite (host only)."""
        if self._host:
            following = self._flat[parity ^ 1]
            if not math.isfinite(float(self._dot(following, following))):
                raise InputValueError(f"This {what} would make a stream's state NaN, Inf or larger than 1e19 (inputs "
                                      f"or weights too large); {applied} and the state is unchanged.")
        self._parity = parity ^ 1

    def scores(self) -> np.ndarray:
        """The readout's scores of the steps since the batch was loaded ``[B, C]`` (rollout from zero state)."""
        if self.readout.spiking:
            return (self.counts / max(self.steps, 1)).astype(np.float32)
        return (self.spikes if self.readout.reduce == "last" else self.peak).copy()

    @property
    def counts_due(self) -> bool:
        """Whether the float32 counters must move to the table now to stay exact (2**24)."""
        return self.steps >= FLUSH_STEPS

    def take_counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """``(spike counts [B, C], last spikes [B, C], running maximum [B, C] or None, steps)`` since the last
        call; resets the counters."""
        counts, steps = self.counts.astype(np.float64), self.steps
        peak = None if self.peak is None else self.peak.copy()
        self.counts[:] = 0
        if self.peak is not None:
            self.peak[:] = -np.inf
        self.steps = 0
        return counts, self.spikes.copy(), peak, steps
