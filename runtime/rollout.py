"""Rolling a model over whole sequences: the one time loop of the package.

:func:`rollout` runs ``x [N, T, F]`` from given (default zero) states, in chunks of
``batch_size`` sequences, and returns what callers compare and count: the output layer's
spikes at every step, every layer's spikes at every step when the graph exposes them (step
graphs return every state, so every layer with a spike state ``y``), the final states, and
the mean output rate. Step graphs are rolled T times; sequence graphs run once per chunk.
Export validation, quantization reports, ``bench accuracy``, ``run`` and
``StreamingSession.run`` all call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import Engine
from .reference import ReferenceEngine


BLOCK = 1024  # samples per block where whole test splits are compared (see blocks)


def blocks(x):
    """``x`` in consecutive slices of :data:`BLOCK` samples. Callers that compare rollouts of a whole
    test split do it block by block, so every layer's spikes at every step are held for one block only
    (a conv layer of 28 x 28 x 32 SNUs records 25,088 values a step)."""
    return (x[start:start + BLOCK] for start in range(0, len(x), BLOCK))


@dataclass(frozen=True)
class Rollout:
    """The result of :func:`rollout`.

    Attributes:
        spikes: layer index -> its outputs at every step ``[N, T, U]`` (step graphs: every
            layer with a spike state; sequence graphs: the output layer); empty when
            ``record`` was False (then ``rates`` only).
        states: final states ``{state input name: [N, *shape]}`` (empty when not recorded).
        rates: the readout's scores of the sequence ``[N, C]`` (:mod:`snudeploy.readouts`: the mean output
            rate, or a membrane readout's value).
        provider: the execution provider that ran it.
    """
    spikes: dict[int, np.ndarray]
    states: dict[str, np.ndarray]
    rates: np.ndarray
    provider: str

    @property
    def predictions(self) -> np.ndarray:
        """argmax of the readout's scores (ties to the lower class)."""
        return self.rates.argmax(axis=1)


def rollout(engine: Engine | ReferenceEngine, x, batch_size: int = 256, record: bool = True, initial: dict | None = None) -> Rollout:
    """Run ``x [N, T, *input shape]`` (spikes or values, or their steps flattened to ``[N, T, F]``;
    converted to float32 per chunk) through ``engine``.

    Args:
        engine: the model on its session (or on :class:`ReferenceEngine`, with ``record``).
        x: the inputs; uint8 spikes are fine (no float copy of the whole set is made).
        batch_size: sequences per ONNX Runtime call (results do not depend on it).
        record: keep per-layer spikes and final states; False keeps only the rates (and lets
            step graphs use the IOBinding fast path).
        initial: starting states ``{state input name: [N, *shape]}`` (default zeros).
    """
    info = engine.info
    chunks = []
    for start in range(0, len(x), batch_size):
        chunk = np.ascontiguousarray(x[start:start + batch_size], np.float32)
        chunk = chunk.reshape(*chunk.shape[:2], *info.input.shape)  # [N, T, F] flattened inputs are fine too
        first = None if initial is None else {k: v[start:start + batch_size] for k, v in initial.items()}
        chunks.append(_chunk(engine, chunk, record, first))
    last = len(info.layers) - 1
    if not chunks:
        return Rollout({last: np.zeros((0, 0, info.classes), np.float32)} if record else {}, {},
                       np.zeros((0, info.classes), np.float32), engine.provider)
    keys = chunks[0][0].keys()
    return Rollout(spikes={k: np.concatenate([c[0][k] for c in chunks]) for k in keys},
                   states={k: np.concatenate([c[1][k] for c in chunks]) for k in chunks[0][1]},
                   rates=np.concatenate([c[2] for c in chunks]), provider=engine.provider)


def _chunk(engine: Engine, x: np.ndarray, record: bool, initial: dict | None):
    info = engine.info
    batch, steps = x.shape[:2]
    states = initial if initial is not None else engine.zeros(batch)
    last = len(info.layers) - 1
    if info.sequence:
        spikes, rates, final = engine.sequence(x, states)
        rates = info.readout.scores(spikes) if rates is None else rates
        return ({last: spikes}, final, rates) if record else ({}, {}, rates)
    if not record:
        bound = engine.bind(batch)
        bound.load(states)
        for t in range(steps):
            np.copyto(bound.x, x[:, t])
            bound.step()
        return {}, {}, bound.scores()
    layers = {i: s for i in range(len(info.layers)) if (s := info.spike_state(i)) is not None}
    recorded = {i: np.zeros((batch, steps, *s.shape), np.float32) for i, s in layers.items()}
    output = np.zeros((batch, steps, *info.output_shape), np.float32)
    for t in range(steps):
        output[:, t], states = engine.step(x[:, t], states)
        for i, s in layers.items():
            recorded[i][:, t] = states[s.input]
    recorded[last] = output
    return recorded, states, info.readout.scores(output)
