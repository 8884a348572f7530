"""Long runs do not grow memory: streams opened and closed, steps taken, sessions made and dropped."""

import gc
import resource

import numpy as np
import pytest
from snu_models import model_bytes, snu_layers

from snudeploy.runtime import StreamingSession

F = 16
PAYLOAD = model_bytes(snu_layers([F, 12, 8, 4]))


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.slow
def test_memory_stays_flat_over_many_streams_steps_and_sessions():
    session = StreamingSession(PAYLOAD)
    x = np.ones((4, F), np.uint8)

    def work(rounds):
        for i in range(rounds):
            ids = session.open(4)
            for _ in range(5):
                session.step(x, ids)
            session.snapshot(ids[0])
            session.close(ids)
            if i % 100 == 0:
                StreamingSession(PAYLOAD).run(np.ones((1, 2, F)))
        gc.collect()

    work(2000)  # warm up: arenas, caches
    before = peak_kib()
    work(20000)  # 20,000 open/close cycles, 100,000 steps, 200 sessions
    assert peak_kib() - before < 20 * 1024, f"peak memory grew by {peak_kib() - before} KiB"
