"""Byte-flip fuzzing of a model file: every mutant is refused with a typed error, or computes exactly what
the original computes, in bounded time.

Hypothesis flips up to four bytes (or truncates) a small valid model; each mutant is loaded and
stepped with a 2-second time limit per ONNX Runtime call. Anything other than a
``SnudeployError`` escaping, a call that is not stopped, or a mutant that loads and computes
something else without a word (the file's seal, :mod:`snudeploy.digest`, is there to refuse
it) fails the test.
"""

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snu_models import model_bytes, snu_layers

from snudeploy.errors import SnudeployError
from snudeploy.runtime import StreamingSession

F = 16
PAYLOADS = {graph: model_bytes(snu_layers([F, 12, 8, 4]), graph) for graph in ("step", "sequence")}
RUN_TIMEOUT = 2.0


def mutate(payload: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(payload)
    for position, value in flips:
        data[position % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


def outputs(payload: bytes) -> list[np.ndarray]:
    session = StreamingSession(payload, threads=1, run_timeout=RUN_TIMEOUT)
    session.open(2)
    stepped = [session.step(np.ones((2, F), np.uint8)) for _ in range(3)]
    return stepped + [session.run(np.ones((1, 3, F), np.uint8))]


EXPECTED = {graph: outputs(payload) for graph, payload in PAYLOADS.items()}


def exercise(payload: bytes, expected: list[np.ndarray]) -> None:
    started = time.monotonic()
    try:
        got = outputs(payload)
    except SnudeployError:
        got = None
    assert time.monotonic() - started < 6 * RUN_TIMEOUT + 5
    if got is not None:  # only a flip that changes nothing the file means may load
        for have, want in zip(got, expected):
            np.testing.assert_array_equal(have, want)


@pytest.mark.parametrize("graph", PAYLOADS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 1 << 20)))
def test_mutants_load_and_run_or_raise_a_typed_error(graph, flips, cut):
    payload = PAYLOADS[graph]
    exercise(mutate(payload, flips, None if cut is None else cut % (len(payload) + 1)), EXPECTED[graph])
