"""SequenceStreams: Triton's START/END/READY/CORRID on a StreamingSession, without a server.

Requests carry chunks ``x [1, K, F]`` as Triton passes them.
"""

import numpy as np
import pytest

from snudeploy.errors import InputShapeError, InputValueError, UnknownStreamError
from snudeploy.runtime import StreamingSession
from snudeploy.serve.sequences import IDLE_MARGIN, Request, SequenceStreams

FEATURES = 16


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def table(tiny_step):
    return SequenceStreams(StreamingSession(tiny_step), idle_seconds=2.0, clock=Clock())


def alone(path, x):
    """Spikes of ``x`` [T, F] streamed alone from zero state."""
    session = StreamingSession(path)
    stream = session.open(1)
    return np.stack([session.step(frame[None], stream)[0] for frame in x])


def request(corrid, x, start=False, end=False, ready=True):
    """A request of one step ``x [F]`` or a chunk ``x [K, F]``, with Triton's batch axis."""
    x = np.asarray(x, np.float32)
    return Request(corrid, start, end, ready, (x[None] if x.ndim == 2 else x[None, None]))


def test_interleaved_sequences_match_streaming_alone_and_empty_slots_are_skipped(tiny_step, table):
    rng = np.random.default_rng(0)
    x = (rng.random((3, 6, FEATURES)) < 0.4).astype(np.float32)
    got = np.zeros((3, 6, 4), np.float32)
    for t in range(6):
        order = rng.permutation(3)
        batch = [request(int(c) + 10, x[c, t], start=t == 0, end=t == 5) for c in order]
        batch.insert(1, request(0, np.zeros(FEATURES), ready=False))  # an empty direct-strategy slot
        results = table.step(batch)
        assert results[1] is None
        for c, result in zip(order, [r for i, r in enumerate(results) if i != 1]):
            got[c, t] = result[0]  # a chunk of one step
    for c in range(3):
        np.testing.assert_array_equal(got[c], alone(tiny_step, x[c]))
    assert table.sequences == []  # END closed every stream
    assert table.session.streams == []


def test_start_resets_a_reused_correlation_id(tiny_step, table):
    rng = np.random.default_rng(1)
    first, second = (rng.random((2, 4, FEATURES)) < 0.5).astype(np.float32)
    for t in range(4):
        table.step([request(7, first[t], start=t == 0)])  # no END: the stream stays open
    again = [table.step([request(7, second[t], start=t == 0)])[0][0] for t in range(4)]
    np.testing.assert_array_equal(np.stack(again), alone(tiny_step, second))
    assert table.sequences == [7] and len(table.session.streams) == 1


def test_a_bad_request_fails_alone(tiny_step, table):
    rng = np.random.default_rng(2)
    x = (rng.random((2, 3, FEATURES)) < 0.5).astype(np.float32)
    for t in range(3):
        bad = np.full(FEATURES, np.nan) if t == 1 else x[1, t]
        good, failed = table.step([request(1, x[0, t], start=t == 0), request(2, bad, start=t == 0)])
        np.testing.assert_array_equal(good[0], alone(tiny_step, x[0])[t])
        assert isinstance(failed, InputValueError) if t == 1 else isinstance(failed, np.ndarray)
    unknown = table.step([request(99, x[0, 0])])[0]
    assert isinstance(unknown, UnknownStreamError) and "START" in str(unknown)


def test_idle_streams_are_closed_after_the_limit_but_not_while_in_a_batch(table):
    x = np.zeros(FEATURES, np.float32)
    table.step([request(1, x, start=True), request(2, x, start=True)])
    table._clock.now += 2.0 + IDLE_MARGIN + 0.1
    assert isinstance(table.step([request(2, x)])[0], np.ndarray)  # 2 is in the batch: alive
    assert table.sequences == [2]
    assert isinstance(table.step([request(1, x)])[0], UnknownStreamError)


def test_chunks_of_mixed_length_in_one_batch_equal_single_steps(tiny_step, table):
    rng = np.random.default_rng(3)
    steps = 12
    x = (rng.random((4, steps, FEATURES)) < 0.4).astype(np.float32)
    got, done = np.zeros((4, steps, 4), np.float32), [0] * 4
    while min(done) < steps:
        batch, members = [], []
        for c in rng.permutation(4):
            if done[c] < steps:
                k = min(int(rng.integers(1, 6)), steps - done[c])  # one K per request, several K per batch
                batch.append(request(c + 1, x[c, done[c]:done[c] + k], start=done[c] == 0,
                                     end=done[c] + k == steps))
                members.append((c, k))
        for (c, k), result in zip(members, table.step(batch)):
            assert result.shape == (k, 4)
            got[c, done[c]:done[c] + k] = result
            done[c] += k
    for c in range(4):
        np.testing.assert_array_equal(got[c], alone(tiny_step, x[c]))
    assert table.sequences == []


def test_a_chunk_longer_than_max_chunk_fails_alone(tiny_step):
    table = SequenceStreams(StreamingSession(tiny_step), idle_seconds=2.0, clock=Clock(), max_chunk=3)
    x = np.ones((4, FEATURES), np.float32)
    long, fine = table.step([request(1, x, start=True), request(2, x[:3], start=True)])
    assert isinstance(long, InputShapeError) and "at most 3 time steps (--max-chunk), got 4" in str(long)
    np.testing.assert_array_equal(fine, alone(tiny_step, x[:3]))
    assert table.session.steps_seen(table.session.streams).tolist() == [0, 3]  # 1 was opened, not stepped
