"""Thread safety: concurrent calls on one session are serialised, never interleaved inside a call."""

import threading

import numpy as np
from snu_models import spikes

from snudeploy.runtime import StreamingSession

F, T, THREADS, PER_THREAD = 16, 30, 4, 3


def test_concurrent_steps_on_disjoint_streams_equal_a_sequential_run(step_bytes):
    rng = np.random.default_rng(11)
    x = spikes(rng, (THREADS, PER_THREAD, T, F))
    session = StreamingSession(step_bytes, threads=1)
    groups = [session.open(PER_THREAD) for _ in range(THREADS)]
    outputs = np.zeros((THREADS, PER_THREAD, T, 4), np.float32)
    errors, start = [], threading.Barrier(THREADS + 2)

    def stream(k):
        try:
            start.wait()
            for t in range(T):
                outputs[k, :, t] = session.step(x[k, :, t], groups[k])
                if t % 7 == 0:  # interleave a readout and a snapshot with other threads' steps
                    session.rates(groups[k])
                    session.snapshot(groups[k][0])
        except Exception as e:  # collected: an assertion inside a thread would be lost
            errors.append(e)

    def whole_sequences():
        start.wait()
        for _ in range(5):
            session.run(x[0])

    workers = [threading.Thread(target=stream, args=(k,)) for k in range(THREADS)]
    workers += [threading.Thread(target=whole_sequences), threading.Thread(target=start.wait)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    alone = StreamingSession(step_bytes, threads=1)
    alone.open(THREADS * PER_THREAD)
    flat = x.reshape(THREADS * PER_THREAD, T, F)
    expected = np.stack([alone.step(flat[:, t]) for t in range(T)], axis=1)
    np.testing.assert_array_equal(outputs.reshape(-1, T, 4), expected)
    np.testing.assert_array_equal(session.steps_seen(), np.full(THREADS * PER_THREAD, T))


def test_concurrent_steps_on_the_same_streams_are_all_counted(step_bytes):
    session = StreamingSession(step_bytes, threads=1)
    session.open(2)
    x = np.ones((2, F), np.uint8)
    threads = [threading.Thread(target=lambda: [session.step(x) for _ in range(25)]) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert session.steps_seen().tolist() == [25 * THREADS] * 2
    # every step saw the same input, so the result equals 100 sequential steps
    alone = StreamingSession(step_bytes, threads=1)
    alone.open(2)
    for _ in range(25 * THREADS):
        alone.step(x)
    np.testing.assert_array_equal(session.spike_counts(), alone.spike_counts())
