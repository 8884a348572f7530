"""Stream isolation: a stream's outputs never depend on what other streams do.

Random schedules of open/close/reset/step/snapshot-restore; every stream's outputs must equal,
bit for bit, those of the same stream run alone in a fresh session, and match the numpy
oracle (tests/snu_reference.py) within 1e-5.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snu_models import model_bytes, snu_layers, spikes
from snu_reference import snu_network

from snudeploy.runtime import StreamingSession

SIZES = [16, 12, 8, 4]
MODELS = {
    "basic": snu_layers(SIZES, seed=3),
    "recurrent_lateral": snu_layers(SIZES, seed=4, g="identity", recurrent=True, lateral_inhibition=True),
}
PAYLOADS = {name: model_bytes(layers) for name, layers in MODELS.items()}


def run_alone(payload, inputs):
    """Outputs of one stream stepped alone (batch of one) in a fresh session."""
    session = StreamingSession(payload, threads=1)
    (stream,) = session.open()
    return np.array([session.step(x[None], [stream])[0] for x in inputs])


def check_segment(name, inputs, outputs):
    if not inputs:
        return
    inputs, outputs = np.array(inputs), np.array(outputs)
    np.testing.assert_array_equal(outputs, run_alone(PAYLOADS[name], inputs))
    reference = snu_network(inputs[None].astype(np.float32), MODELS[name])[0][-1][0]
    np.testing.assert_allclose(outputs, reference, atol=1e-5)


def check_state(name, session, stream, inputs, outputs):
    snap = session.snapshot(stream)
    assert snap.steps == len(inputs) == session.steps_seen([stream])[0]
    counts = np.sum(outputs, axis=0) if outputs else np.zeros(SIZES[-1])
    np.testing.assert_array_equal(snap.counts, counts)
    if not inputs:
        assert all(not v.any() for v in snap.states.values())
        return
    _, states = snu_network(np.array(inputs)[None].astype(np.float32), MODELS[name])
    for i, (y, s) in enumerate(states):
        np.testing.assert_allclose(snap.states[f"l{i}_y"], y[0], atol=1e-5)
        np.testing.assert_allclose(snap.states[f"l{i}_s"], s[0], atol=1e-5)


@pytest.mark.parametrize("io_binding", [True, False], ids=["iobinding", "plain"])
@pytest.mark.parametrize("name", list(MODELS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_schedules_keep_streams_isolated(name, io_binding, data):
    session = StreamingSession(PAYLOADS[name], threads=1, io_binding=io_binding)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    inputs, outputs, finished = {}, {}, []

    def subset(open_ids):
        return data.draw(st.lists(st.sampled_from(open_ids), min_size=1, unique=True))

    def end_segment(stream):
        finished.append((inputs.pop(stream), outputs.pop(stream)))

    for _ in range(data.draw(st.integers(1, 12), label="operations")):
        open_ids = session.streams
        op = data.draw(st.sampled_from(["open", "close", "reset", "move", "step", "step", "step"])
                       if open_ids else st.just("open"))
        if op == "open":
            for stream in session.open(data.draw(st.integers(1, 3))):
                inputs[stream], outputs[stream] = [], []
        elif op == "close":
            chosen = subset(open_ids)
            session.close(chosen)
            for stream in chosen:
                end_segment(stream)
        elif op == "reset":
            chosen = data.draw(st.none() | st.lists(st.sampled_from(open_ids), min_size=1, unique=True))
            session.reset(chosen)
            for stream in open_ids if chosen is None else chosen:
                end_segment(stream)
                inputs[stream], outputs[stream] = [], []
        elif op == "move":  # snapshot one stream, restore it into another
            source, target = data.draw(st.sampled_from(open_ids)), data.draw(st.sampled_from(open_ids))
            session.restore(target, session.snapshot(source))
            if source != target:
                end_segment(target)
                inputs[target], outputs[target] = list(inputs[source]), list(outputs[source])
        else:
            chosen = data.draw(st.none() | st.lists(st.sampled_from(open_ids), min_size=1, unique=True))
            stepped = open_ids if chosen is None else chosen
            for _ in range(data.draw(st.integers(1, 3), label="repeats")):  # repeats take the bound path
                x = spikes(rng, (len(stepped), SIZES[0]))
                y = session.step(x, streams=chosen)
                assert y.shape == (len(stepped), SIZES[-1]) and y.dtype == np.float32
                for row, stream in enumerate(stepped):
                    inputs[stream].append(x[row])
                    outputs[stream].append(y[row])
    assert session.streams == sorted(inputs)  # open order: ids only grow
    for stream in session.streams:
        check_state(name, session, stream, inputs[stream], outputs[stream])
    for segment in finished + [(inputs[s], outputs[s]) for s in session.streams]:
        check_segment(name, *segment)
