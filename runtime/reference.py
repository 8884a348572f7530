"""``onnx.reference`` behind the :class:`~.engine.Engine` interface: an independent check.

ONNX's ReferenceEvaluator is a plain-numpy implementation of the ONNX operators, slow and
independent of ONNX Runtime's kernels. :class:`ReferenceEngine` lets :func:`~.rollout.rollout`
run it like any engine, so a model's output on ONNX Runtime can be compared with the exact
result its file describes (int8 graphs: bit for bit, on whichever CPU the check runs).
"""

from __future__ import annotations

import numpy as np
import onnx

from .model import LoadedModel, load_model


class ReferenceEngine:
    """A snudeploy model on ``onnx.reference.ReferenceEvaluator`` (step and whole-sequence calls)."""

    provider = "onnx.reference"

    def __init__(self, model, trust_operators: bool = False):
        from onnx.reference import ReferenceEvaluator

        self.model = model if isinstance(model, LoadedModel) else load_model(model, trust_operators)
        payload = self.model.payload
        proto = onnx.load_model_from_string(payload) if isinstance(payload, bytes) else onnx.load(payload)
        self._evaluator = ReferenceEvaluator(proto)
        self.state_inputs = tuple(s.input for s in self.model.states)
        self._fetch = [self.model.spikes, *(s.output for s in self.model.states)]

    @property
    def info(self):
        return self.model.info

    def zeros(self, batch: int) -> dict[str, np.ndarray]:
        return {s.input: np.zeros((batch, *s.shape), np.float32) for s in self.model.states}

    def step(self, x: np.ndarray, states: dict) -> tuple[np.ndarray, dict]:
        sequence = self.model.sequence
        fetched = self._evaluator.run(self._fetch, {self.model.input: x[:, None] if sequence else x, **states})
        spikes = fetched[0][:, 0] if sequence else fetched[0]
        return np.asarray(spikes, np.float32), dict(zip(self.state_inputs, fetched[1:]))

    def sequence(self, x: np.ndarray, states: dict):
        fetched = self._evaluator.run(self._fetch, {self.model.input: x, **states})
        return fetched[0], None, dict(zip(self.state_inputs, fetched[1:]))

    def bind(self, batch: int):
        raise NotImplementedError("The reference evaluator has no IOBinding path; use rollout(..., record=True).")
