"""StreamingSession.feed (raw values encoded per stream) and the readouts' predictions, without TensorFlow."""

import numpy as np
import pytest
from snu_models import integrator_network, model_bytes, snu_layers

from snudeploy.encoding import Delta, Latency
from snudeploy.errors import ConfigurationError, InputDTypeError, InputShapeError, InputValueError, UnknownStreamError
from snudeploy.readouts import Readout
from snudeploy.runtime import StreamingSession
from snudeploy.runtime.evaluate import feed_sequences

RAW = 3  # raw channels; delta sends ON and OFF spikes of each: 6 inputs


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return np.cumsum(rng.normal(0, 1, (8, 12, RAW)), axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def delta(data):
    return Delta().fit(data, factor=0.4)


def session(delta, readout="mean_rate", graph="step", **kwargs):
    network = integrator_network([2 * RAW, 10, 4]) if readout.startswith("membrane") else snu_layers([2 * RAW, 10, 4])
    reduce = readout.split(":")[1] if ":" in readout else None
    payload = model_bytes(network, graph, encoding=delta, readout=Readout(readout.split(":")[0], reduce), **kwargs)
    return StreamingSession(payload, threads=1)


def test_feed_equals_stepping_the_encoded_input(data, delta):
    fed, stepped = session(delta), session(delta)
    encoded = delta.encode(data)
    a, b = fed.open(8), stepped.open(8)
    for t in range(data.shape[1]):
        rows = [i for i in range(8) if (i + t) % 3]  # a changing subset of streams each step
        out = fed.feed(data[rows, t], [a[i] for i in rows])
        np.testing.assert_array_equal(out, stepped.step(encoded_step(delta, data, rows, t, fed_steps(rows, t)),
                                                        [b[i] for i in rows]))
    np.testing.assert_array_equal(fed.spike_counts(a), stepped.spike_counts(b))
    assert encoded.shape == (8, 12, 2 * RAW)


def fed_steps(rows, t):
    """How many steps each of ``rows`` was fed before step ``t`` (the subset rule of the test above)."""
    return [sum(1 for u in range(t) if (row + u) % 3) for row in rows]


def encoded_step(delta, data, rows, t, before):
    """What the delta encoder sends for stream ``row`` given the raw values it was fed (a reference per stream)."""
    out = []
    for row, count in zip(rows, before):
        seen = [data[row, u] for u in range(t) if (row + u) % 3] + [data[row, t]]
        assert len(seen) == count + 1
        out.append(delta.encode(np.array(seen)[None])[0, -1])
    return np.array(out)


def test_encoder_state_lives_in_the_stream_and_travels(data, delta):
    s = session(delta)
    a, b = s.open(2)
    for t in range(5):
        s.feed(data[[0, 1], t], [a, b])
    snap = s.snapshot(a)
    assert set(snap.encoder) == {"reference", "started"} and snap.encoder["started"][0] == 1
    c, = s.open()
    s.restore(c, snap)
    for t in range(5, 12):
        np.testing.assert_array_equal(s.feed(data[0, t][None], a), s.feed(data[0, t][None], c))
    other = session(delta)  # a snapshot restores into another session of the same model
    d, = other.open()
    other.restore(d, snap)
    s.restore(a, snap)
    np.testing.assert_array_equal(s.feed(data[0, 5][None], a), other.feed(data[0, 5][None], d))
    s.reset(b)  # a reset stream's first value becomes its reference again: it sends nothing
    assert s.snapshot(b).encoder["started"][0] == 0
    s.feed(data[1, 7][None] + 100.0, b)
    assert s.snapshot(b).steps == 1
    np.testing.assert_array_equal(s.snapshot(b).encoder["reference"], delta.normalise(data[1, 7][None] + 100.0)[0])


def test_bad_feeds_raise_typed_errors_and_change_no_stream(data, delta):
    s = session(delta)
    ids = s.open(2)
    s.feed(data[:2, 0], ids)
    before = [s.snapshot(i) for i in ids]
    bad = [
        (data[:2, 1, :2], None, InputShapeError),            # too few channels
        (data[:3, 1], None, InputShapeError),                # a row per stream
        (np.full((2, RAW), np.nan), None, InputValueError),
        (np.full((2, RAW), 1e30), None, InputValueError),
        (np.array([["a"] * RAW] * 2), None, InputDTypeError),
        (data[:2, 1], [ids[0], 99], UnknownStreamError),
        (data[:2, 1], [ids[0], ids[0]], UnknownStreamError),
    ]
    for values, streams, error in bad:
        with pytest.raises(error):
            s.feed(values, ids if streams is None else streams)
        for i, snap in zip(ids, before):
            after = s.snapshot(i)
            assert after.steps == snap.steps and all(np.array_equal(after.encoder[k], v) for k, v in snap.encoder.items())
            assert all(np.array_equal(after.states[k], v) for k, v in snap.states.items())
    rate = StreamingSession(model_bytes(snu_layers([6, 4])), threads=1)
    with pytest.raises(ConfigurationError, match="rate encoding"):
        rate.feed(np.zeros((1, 6)), rate.open())
    with pytest.raises(ConfigurationError, match="encoder"):  # a snapshot of another encoder does not fit
        s.restore(ids[0], type(before[0])(before[0].states, 1, before[0].counts, before[0].last, before[0].peak, {}))


def test_latency_encoder_counts_its_own_steps():
    latency = Latency(timesteps=4)
    s = StreamingSession(model_bytes(snu_layers([5, 4]), encoding=latency), threads=1)
    ids = s.open(2)
    images = np.array([[1.0, 0.8, 0.5, 0.2, 0.0], [0.3, 0.3, 0.3, 0.3, 0.3]], np.float32)
    stepped = StreamingSession(model_bytes(snu_layers([5, 4]), encoding=latency), threads=1)
    other = stepped.open(2)
    encoded = latency.encode(images)
    for t in range(4):
        np.testing.assert_array_equal(s.feed(images, ids), stepped.step(encoded[:, t], other))
    assert s.snapshot(ids[0]).encoder["t"][0] == 4
    with pytest.raises(InputValueError, match=r"Latency encoding needs finite values in \[0, 1\]"):
        s.feed(images + 0.5, ids)  # as encode() refuses them, and nothing changes
    assert s.snapshot(ids[0]).encoder["t"][0] == 4


def integrator_reference(network, x):
    """The membrane values of the output layer at every step (the numpy oracle)."""
    from snu_reference import snu_network

    return snu_network(x, network)[0][-1]


@pytest.mark.parametrize("reduce", ["last", "max"])
def test_membrane_readout_predicts_from_the_last_or_largest_value(data, delta, reduce):
    s = session(delta, f"membrane:{reduce}")
    network = integrator_network([2 * RAW, 10, 4])
    encoded = delta.encode(data)
    values = integrator_reference(network, encoded)
    ids = s.open(8)
    for t in range(12):
        out = s.feed(data[:, t], ids)
        np.testing.assert_allclose(out, values[:, t], rtol=1e-5, atol=1e-5)
        expected = values[:, t] if reduce == "last" else values[:, :t + 1].max(axis=1)
        np.testing.assert_allclose(s.rates(ids), expected, rtol=1e-5, atol=1e-5)
        assert (s.predict(ids) == s.rates(ids).argmax(axis=1)).all()
        assert not s.decided(11 - t, ids).any() if t < 11 else s.decided(0, ids).all()
    scores = Readout("membrane", reduce).scores(values)
    np.testing.assert_allclose(s.run(encoded), scores, rtol=1e-5, atol=1e-5)  # run follows the readout too
    sequence = session(delta, f"membrane:{reduce}", graph="sequence")
    np.testing.assert_allclose(sequence.run(encoded), scores, rtol=1e-5, atol=1e-5)
    snap = s.snapshot(ids[0])
    fresh, = s.open()
    s.restore(fresh, snap)
    np.testing.assert_array_equal(s.rates([fresh]), s.rates([ids[0]]))


def test_variable_length_streams_stop_at_their_own_length(data, delta):
    s = session(delta, "membrane:last")
    lengths = np.array([12, 3, 7, 1, 12, 5, 9, 2])
    result = feed_sequences(s, data, lengths, streams=3, record=True)
    network = integrator_network([2 * RAW, 10, 4])
    for i, n in enumerate(lengths):
        values = integrator_reference(network, delta.encode(data[i:i + 1, :n]))[0]
        np.testing.assert_allclose(result.scores[i], values[-1], rtol=1e-5, atol=1e-5)
        assert result.predictions[i] == result.running[i, -1] == result.running[i, n - 1]
    assert result.sample_steps == lengths.sum() and result.output_spikes is None
