"""A loaded model on one ONNX Runtime session: every call of the package goes through here.

:class:`Engine` pairs a checked :class:`~.model.LoadedModel` with its session and runs it
four ways: one step with numpy states (:meth:`Engine.step`), one step on states bound in
OrtValues (:meth:`Engine.bind`, see :mod:`.execution`), whole sequences
(:meth:`Engine.sequence`), and chunks of K steps from given states in one call
(:meth:`Engine.chunk`: a sequence graph runs them itself; a step graph is rolled over time by
an ONNX ``Scan`` built from it at the first chunk, see :mod:`.scan`). Every ONNX Runtime failure becomes a typed error
(:class:`~snudeploy.errors.InferenceError`, or :class:`~snudeploy.errors.RunTimeoutError`
when a call ran past ``run_timeout`` seconds); a failed call changes no state.
"""

from __future__ import annotations

import threading

import numpy as np
import onnxruntime as ort

from .. import arguments
from ..errors import InferenceError, RunTimeoutError
from . import watchdog
from .model import LoadedModel, load_model
from .providers import QUIET, SessionSettings, create_session, device_type


class Engine:
    """One model, one ONNX Runtime session.

    Args:
        model: a :class:`LoadedModel`, a path or the model's bytes.
        settings: provider, threads, optimization level.
        run_timeout: seconds one call may take before it is stopped (None: no limit).
        trust_operators, check_digest: see :func:`~.model.load_model`.
    """

    def __init__(self, model, settings: SessionSettings | None = None, run_timeout: float | None = None,
                 trust_operators: bool = False, check_digest: bool = True):
        self.model = model if isinstance(model, LoadedModel) else load_model(model, trust_operators, check_digest)
        self.settings = settings or SessionSettings()
        self.run_timeout = None if run_timeout is None else arguments.number(run_timeout, "run_timeout", 0,
                                                                             min_open=True)
        self.session = create_session(self.model.payload, self.settings, self.model.source,
                                      self.model.disabled_optimizers)
        self.provider = self.session.get_providers()[0]
        self.device = device_type(self.provider)
        states = self.model.states
        self.state_inputs = tuple(s.input for s in states)
        self.state_outputs = tuple(s.output for s in states)
        self._step_fetch = [self.model.spikes, *self.state_outputs]
        self._rolled: Engine | None = None  # the chunk engine of a step graph, made at the first chunk
        self._rolling = threading.Lock()

    @property
    def info(self):
        return self.model.info

    def zeros(self, batch: int) -> dict[str, np.ndarray]:
        """Zero states ``{state input name: [batch, *shape]}``."""
        return {s.input: np.zeros((batch, *s.shape), np.float32) for s in self.model.states}

    def run(self, fetch: list[str], feed: dict) -> list[np.ndarray]:
        """``session.run`` with the time limit and typed errors."""
        if self.run_timeout is None:
            try:
                return self.session.run(fetch, feed)
            except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own exception types
                raise self.error(e) from None
        token, options = watchdog.begin(self.run_timeout, QUIET)
        try:
            return self.session.run(fetch, feed, options)
        except Exception as e:  # noqa: BLE001
            raise self.error(e, watchdog.end(token)) from None
        finally:
            watchdog.end(token)

    def run_bound(self, binding: ort.IOBinding) -> None:
        """``run_with_iobinding`` with the time limit and typed errors."""
        if self.run_timeout is None:
            try:
                self.session.run_with_iobinding(binding)
                return
            except Exception as e:  # noqa: BLE001
                raise self.error(e) from None
        token, options = watchdog.begin(self.run_timeout, QUIET)
        try:
            self.session.run_with_iobinding(binding, options)
        except Exception as e:  # noqa: BLE001
            raise self.error(e, watchdog.end(token)) from None
        finally:
            watchdog.end(token)

    def step(self, x: np.ndarray, states: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One step of ``x [B, *input shape]`` float32 from ``states``; return (spikes [B, C], next states).

        A sequence graph is stepped as a sequence of length 1.
        """
        model = self.model
        feed = {model.input: x[:, None] if model.sequence else x}
        feed.update(states)
        fetched = self.run(self._step_fetch, feed)
        spikes = fetched[0][:, 0] if model.sequence else fetched[0]
        return spikes, dict(zip(self.state_inputs, fetched[1:]))

    def sequence(self, x: np.ndarray, states: dict[str, np.ndarray]):
        """A sequence graph over ``x [B, T, *input shape]`` from ``states``.

        Returns:
            (output spikes [B, T, C], the graph's mean rates [B, C] or None, final states).
        """
        rates = [self.model.rates] if self.model.rates else []
        fetched = self.run(self._step_fetch + rates, {self.model.input: x, **states})
        return fetched[0], (fetched[-1] if rates else None), dict(zip(self.state_inputs, fetched[1:len(self._step_fetch)]))

    def chunk(self, x: np.ndarray, states: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """K consecutive steps ``x [B, K, *input shape]`` float32 from ``states`` in one ONNX Runtime call.

        Returns:
            (output spikes [B, K, C], the states after step K).
        """
        engine = self.chunks
        fetched = engine.run(engine._step_fetch, {engine.model.input: x, **states})
        return fetched[0], dict(zip(self.state_inputs, fetched[1:]))

    @property
    def chunks(self) -> "Engine":
        """The engine that runs chunks: this one for a sequence graph; for a step graph, the step
        graph rolled over time by ``Scan`` (:func:`.scan.rolled`) on its own session, made once."""
        if self.model.sequence:
            return self
        with self._rolling:
            if self._rolled is None:
                from .scan import rolled

                self._rolled = Engine(rolled(self.model), self.settings, self.run_timeout)
            return self._rolled

    def bind(self, batch: int):
        """A :class:`~.execution.BoundBatch` of ``batch`` streams on this session."""
        from .execution import BoundBatch

        return BoundBatch(self, batch)

    def error(self, error: Exception, fired: bool = False) -> InferenceError:
        """The typed error for ONNX Runtime's ``error`` (``fired``: the time limit stopped the call)."""
        if "terminate flag" in str(error) and not fired:  # stopped by Ctrl-C (snudeploy.interrupts)
            raise KeyboardInterrupt
        if fired:
            return RunTimeoutError(f"{self.model.source}: the call ran past its time limit of {self.run_timeout:g} s "
                                   "and was stopped; no state changed.")
        if isinstance(error, MemoryError):
            return InferenceError(f"{self.model.source}: ONNX Runtime ran out of memory; no state changed.")
        text = str(error).strip().splitlines()
        return InferenceError(f"{self.model.source}: ONNX Runtime failed ({type(error).__name__}: "
                              f"{text[0] if text else 'no message'}); no state changed.")
