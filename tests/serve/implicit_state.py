"""A stand-in for Triton's ONNX Runtime backend with implicit state, to test the generated variant here.

The wheel's Triton has no onnxruntime backend, so this harness applies Triton's rules to
the generated ``config.pbtxt`` and ``model.onnx`` on ONNX Runtime:

* each execution is a batch of up to ``max_batch_size`` slots; a slot holds one request
  (START/READY = 1/1 or 0/1), a chunk ``x [K, *input]``, or is empty (READY = 0, CORRID 0,
  inputs and states garbage); the requests of one execution have equal K (``x`` has a
  variable dimension, so Triton batches only requests of equal shape);
* a request's state inputs are the state outputs of its sequence's previous request
  (state carried per correlation id, not per slot: a sequence may change slots between
  executions, as with the ``oldest`` strategy); at START they are the configured
  ``initial_state`` (zeros) or, without one, uninitialized memory (here NaN);
* the state outputs of empty slots are dropped.

``parse`` reads the text format subset that :mod:`snudeploy.serve.pbtxt` writes.
"""

from __future__ import annotations

import json
import re

import numpy as np
import onnxruntime as ort

_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([{}\[\]:,])|([^\s{}\[\]:,"]+))')


def parse(text: str) -> dict:
    """``config.pbtxt`` text -> nested dicts and lists (scalars as Python values, enums as str)."""
    tokens = [m.group(1) or m.group(2) or m.group(3) for m in _TOKEN.finditer(text) if m.group(0).strip()]
    message, rest = _message(tokens, 0)
    assert rest == len(tokens), f"trailing tokens: {tokens[rest:]}"
    return message


def _message(tokens, i):
    message = {}
    while i < len(tokens) and tokens[i] != "}":
        key = tokens[i]
        i += 1
        if tokens[i] == ":":
            i += 1
        value, i = _value(tokens, i)
        message[key] = value
    return message, i


def _value(tokens, i):
    if tokens[i] == "{":
        message, i = _message(tokens, i + 1)
        return message, i + 1
    if tokens[i] == "[":
        items, i = [], i + 1
        while tokens[i] != "]":
            item, i = _value(tokens, i)
            items.append(item)
            if tokens[i] == ",":
                i += 1
        return items, i + 1
    return _scalar(tokens[i]), i + 1


def _scalar(token: str):
    if token.startswith('"'):
        return json.loads(token)
    if token in ("true", "false"):
        return token == "true"
    try:
        return int(token)
    except ValueError:
        try:
            return float(token)
        except ValueError:
            return token  # an enum value


class ImplicitStateServer:
    """Runs a generated ONNX Runtime-backend model folder the way Triton would (see the module docstring)."""

    def __init__(self, folder, garbage_seed: int = 0):
        self.config = parse((folder / "config.pbtxt").read_text())
        self.session = ort.InferenceSession(str(folder / "1" / self.config["default_model_filename"]),
                                            providers=["CPUExecutionProvider"])
        batching = self.config["sequence_batching"]
        self.states = batching["state"]
        self.controls = {c["name"]: c["control"][0] for c in batching["control_input"]}
        self.max_batch = self.config["max_batch_size"]
        self.input = self.config["input"][0]["name"]
        self.output = self.config["output"][0]["name"]
        self.stored: dict[int, dict[str, np.ndarray]] = {}
        self.rng = np.random.default_rng(garbage_seed)

    def execute(self, slots: list) -> list:
        """Run one batch; ``slots`` holds ``(corrid, x [K, *input], start)`` or None (empty); return spikes
        ``[K, C]`` per slot."""
        assert 0 < len(slots) <= self.max_batch
        shapes = {np.shape(s[1]) for s in slots if s is not None}
        assert len(shapes) == 1, f"Triton batches requests of one shape only, got {shapes}"
        (shape,) = shapes
        assert len(shape) == len(self.config["input"][0]["dims"])
        feed = {self.input: np.stack([self.rng.random(shape, np.float32) if s is None else s[1] for s in slots])}
        feed["START"] = np.array([[int(s is not None and s[2])] for s in slots], np.int32)
        feed["READY"] = np.array([[int(s is not None)] for s in slots], np.int32)
        for state in self.states:
            feed[state["input_name"]] = np.stack([self._state_in(s, state) for s in slots]).astype(np.float32)
        names = [self.output] + [state["output_name"] for state in self.states]
        spikes, *outputs = self.session.run(names, feed)
        for row, slot in enumerate(slots):
            if slot is not None:
                self.stored[slot[0]] = {st["input_name"]: out[row].copy() for st, out in zip(self.states, outputs)}
        return [None if s is None else spikes[row] for row, s in enumerate(slots)]

    def _state_in(self, slot, state) -> np.ndarray:
        dims = state["dims"]
        if slot is None:
            return self.rng.normal(0, 10, dims)  # an empty slot: whatever Triton's dummy state holds
        corrid, _, start = slot
        if start:
            initial = state.get("initial_state")
            return np.zeros(dims) if initial and initial[0].get("zero_data") else np.full(dims, np.nan)
        return self.stored[corrid][state["input_name"]]
