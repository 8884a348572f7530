"""StreamingSession behaviour: stepping vs whole sequences, fast path vs plain, state transfer, readouts."""

import pickle

import numpy as np
import pytest
from snu_models import model_bytes, snu_layers, spikes
from snu_reference import snu_network

from snudeploy.errors import ConfigurationError, InputShapeError
from snudeploy.runtime import StreamingSession, StreamSnapshot

F, C = 16, 4


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def step_through(session, x, streams=None):
    """Step ``x [S, T, F]`` through ``streams``; return the outputs [S, T, C]."""
    return np.stack([session.step(x[:, t], streams) for t in range(x.shape[1])], axis=1)


def test_stepping_matches_reference_and_whole_sequence_runs(step_bytes, sequence_bytes, layers, rng):
    x = spikes(rng, (5, 9, F))
    stepper = StreamingSession(step_bytes, threads=1)
    stepper.open(5)
    outputs = step_through(stepper, x)
    reference = snu_network(x.astype(np.float32), layers)[0][-1]
    np.testing.assert_allclose(outputs, reference, atol=1e-5)
    rolled = stepper.run(x)
    whole = StreamingSession(sequence_bytes, threads=1).run(x)
    assert rolled.shape == (5, C) and rolled.dtype == np.float32
    np.testing.assert_allclose(rolled, whole, atol=1e-6)
    np.testing.assert_allclose(stepper.rates(), whole, atol=1e-6)
    np.testing.assert_allclose(whole, reference.mean(axis=1), atol=1e-6)


def test_sequence_model_steps_with_one_timestep(step_bytes, sequence_bytes, rng):
    x = spikes(rng, (3, 6, F))
    by_step, by_sequence = StreamingSession(step_bytes), StreamingSession(sequence_bytes)
    for session in (by_step, by_sequence):
        session.open(3)
    np.testing.assert_array_equal(step_through(by_step, x), step_through(by_sequence, x))
    for a, b in zip(by_step.snapshot(1).states.values(), by_sequence.snapshot(1).states.values()):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("graph", ["step", "sequence"])
def test_iobinding_path_equals_plain_path(layers, graph, rng):
    payload = model_bytes(layers, graph)
    fast, plain = StreamingSession(payload, io_binding=True), StreamingSession(payload, io_binding=False)
    assert fast.io_binding and not plain.io_binding
    schedule = [None] * 4 + [[0, 2]] * 3 + [None] * 2 + [[3]] * 3 + [[2, 0]] * 2
    for session in (fast, plain):
        session.open(4)
    for streams in schedule:
        x = spikes(rng, (4 if streams is None else len(streams), F))
        np.testing.assert_array_equal(fast.step(x, streams), plain.step(x, streams))
    for stream in fast.streams:
        a, b = fast.snapshot(stream), plain.snapshot(stream)
        for name in a.states:
            np.testing.assert_array_equal(a.states[name], b.states[name])
    x = spikes(rng, (6, 5, F))
    np.testing.assert_array_equal(fast.run(x), plain.run(x))


def test_bound_streams_survive_reset_restore_and_readouts(step_bytes, rng):
    """Operations on streams whose state lives in bound OrtValues keep both copies in step."""
    fast, plain = StreamingSession(step_bytes), StreamingSession(step_bytes, io_binding=False)
    for session in (fast, plain):
        session.open(3)
    xs = spikes(rng, (12, 3, F))
    for t, x in enumerate(xs):
        if t == 4:
            for session in (fast, plain):
                session.reset([1])
        if t == 7:
            for session in (fast, plain):
                session.restore(2, session.snapshot(0))
        if t == 9:
            for session in (fast, plain):
                session.close([0])
        streams = None if t < 9 else [1, 2]
        rows = x if t < 9 else x[1:]
        np.testing.assert_array_equal(fast.step(rows, streams), plain.step(rows, streams))
        np.testing.assert_array_equal(fast.spike_counts(), plain.spike_counts())


def test_snapshot_restore_round_trip_into_a_second_session(step_bytes, sequence_bytes, step_path, rng):
    x = spikes(rng, (1, 10, F))
    uninterrupted = StreamingSession(step_bytes)
    uninterrupted.open()
    expected = step_through(uninterrupted, x)

    first = StreamingSession(step_path)
    first.open(2)  # stream 0 is a bystander
    (stream,) = first.open()
    step_through(first, x[:, :4], [stream])
    snap = pickle.loads(pickle.dumps(first.snapshot(stream)))
    assert isinstance(snap, StreamSnapshot) and snap.steps == 4
    second = StreamingSession(sequence_bytes)  # another graph of the same network is compatible
    (moved,) = second.open()
    second.restore(moved, snap)
    np.testing.assert_array_equal(second.spike_counts([moved]), first.spike_counts([stream]))
    rest = step_through(second, x[:, 4:], [moved])
    np.testing.assert_array_equal(np.concatenate([expected[:, :4], rest], axis=1), expected)
    assert second.steps_seen([moved])[0] == 10
    np.testing.assert_array_equal(second.spike_counts([moved])[0], expected[0].sum(axis=0))
    snap.states["l0_s"][:] = 99  # a snapshot is a copy: changing it changes no stream
    assert not np.any(second.snapshot(moved).states["l0_s"] == 99)


def test_snapshot_of_other_network_is_rejected(step_bytes):
    other = StreamingSession(model_bytes(snu_layers([F, 5, C])))
    (foreign,) = other.open()
    session = StreamingSession(step_bytes)
    (stream,) = session.open()
    with pytest.raises(ConfigurationError, match=r"does not fit this model.*'l0_y': \(5,\).*'l0_y': \(12,\)"):
        session.restore(stream, other.snapshot(foreign))
    with pytest.raises(ConfigurationError, match="Expected a StreamSnapshot"):
        session.restore(stream, {"l0_y": np.zeros(12)})


def test_open_close_and_streams_joining_mid_flight(step_bytes, rng):
    session = StreamingSession(step_bytes)
    assert session.open(2) == [0, 1]
    for x in spikes(rng, (3, 2, F)):
        session.step(x)
    session.close([0])
    assert session.open() == [2]  # ids are never reused, slots are
    assert session.streams == [1, 2]
    assert session.steps_seen().tolist() == [3, 0]
    assert not session.spike_counts([2]).any()
    assert all(not v.any() for v in session.snapshot(2).states.values())
    for _ in range(10):  # grow beyond the initial slot capacity
        session.open(3)
    assert len(session.streams) == 32 and session.streams[-1] == 32
    session.close(None)
    assert session.streams == []


def test_readouts_and_anytime_prediction(step_bytes, rng):
    session = StreamingSession(step_bytes)
    ids = session.open(4)
    x = spikes(rng, (4, 12, F))
    assert session.predict().tolist() == [0, 0, 0, 0] and not session.rates().any()
    outputs = step_through(session, x)
    np.testing.assert_array_equal(session.last_spikes(), outputs[:, -1])
    np.testing.assert_array_equal(session.spike_counts(), outputs.sum(axis=1))
    np.testing.assert_allclose(session.rates(ids[::-1]), outputs.mean(axis=1)[::-1], atol=1e-6)
    np.testing.assert_array_equal(session.predict(), outputs.sum(axis=1).argmax(axis=1))
    ranked = np.sort(outputs.sum(axis=1), axis=1)
    lead = ranked[:, -1] - ranked[:, -2]
    np.testing.assert_array_equal(session.decided(0), lead > 0)
    assert not session.decided(int(lead.max())).any()
    assert session.predict(3).shape == (1,)


def test_decided_streams_cannot_change_their_prediction(step_bytes, rng):
    timesteps = 12
    x = spikes(rng, (16, timesteps, F), p=0.4)
    session = StreamingSession(step_bytes)
    session.open(16)
    early = {}
    for t in range(timesteps):
        session.step(x[:, t])
        for i in np.flatnonzero(session.decided(timesteps - t - 1)):
            early.setdefault(int(i), int(session.predict([int(i)])[0]))
    assert early, "some stream should decide before the end"
    final = session.predict()
    assert all(final[i] == label for i, label in early.items())


def test_run_leaves_open_streams_alone(step_bytes, rng):
    session = StreamingSession(step_bytes)
    session.open(2)
    for x in spikes(rng, (3, 2, F)):
        session.step(x)
    before = session.snapshot(1)
    rates = session.run(spikes(rng, (5, 4, F)), batch_size=2)
    assert rates.shape == (5, C)
    after = session.snapshot(1)
    for name in before.states:
        np.testing.assert_array_equal(before.states[name], after.states[name])
    assert session.steps_seen().tolist() == [3, 3]


def test_run_does_not_depend_on_batch_size(sequence_bytes, rng):
    session = StreamingSession(sequence_bytes)
    x = spikes(rng, (7, 5, F))
    np.testing.assert_array_equal(session.run(x, batch_size=3), session.run(x))
    assert session.run(np.zeros((0, 5, F))).shape == (0, C)


def test_soft_snu_outputs_follow_the_reference(rng):
    layers = snu_layers([F, 6, C], activation="sigmoid", g="relu")
    session = StreamingSession(model_bytes(layers))
    session.open(2)
    x = rng.random((2, 5, F)).astype(np.float64)  # real values, not spikes
    np.testing.assert_allclose(step_through(session, x), snu_network(x.astype(np.float32), layers)[0][-1], atol=1e-5)


def test_fixed_length_model_runs_sequences_but_cannot_step(layers, rng):
    unrolled = StreamingSession(model_bytes(layers, "sequence", timesteps=5))
    unrolled.open()
    with pytest.raises(ConfigurationError, match="fixed sequence length T=5.*cannot step"):
        unrolled.step(spikes(rng, (1, F)))
    x = spikes(rng, (3, 5, F))
    np.testing.assert_allclose(unrolled.run(x), StreamingSession(model_bytes(layers)).run(x), atol=1e-6)
    with pytest.raises(InputShapeError, match=r"timesteps=5.*got shape \[3, 4, 16\]"):
        unrolled.run(x[:, :4])
    single = StreamingSession(model_bytes(layers, "sequence", timesteps=1))
    single.open()
    assert single.step(x[:1, 0]).shape == (1, C)


def test_optimizers_the_metadata_disables_are_switched_off(layers, rng):
    quantization = {"method": "ptq", "ort_disabled_optimizers": ["MatMulAddFusion"]}
    session = StreamingSession(model_bytes(layers, quantization=quantization))
    assert session.info.quantization.ort_disabled_optimizers == ("MatMulAddFusion",)
    x = spikes(rng, (2, 4, F))
    np.testing.assert_array_equal(session.run(x), StreamingSession(model_bytes(layers)).run(x))
