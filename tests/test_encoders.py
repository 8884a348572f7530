"""The encoder registry against plain-numpy references: every number the metadata stores reproduces the input."""

import dataclasses

import numpy as np
import pytest

from snudeploy import encoding
from snudeploy.encoding import ENCODERS, Delta, Direct, Encoder, Latency, Rate, Spikes
from snudeploy.errors import ConfigurationError, InputShapeError, InputValueError


def delta_reference(x, mean, scale, threshold):
    """Send-on-delta as the docs state it, one value at a time (float32 arithmetic)."""
    x = np.asarray(x, np.float32)
    n, steps, features = x.shape
    out = np.zeros((n, steps, 2 * features), np.uint8)
    for i in range(n):
        for c in range(features):
            z = (x[i, :, c] - np.float32(mean[c])) / np.float32(scale[c])
            r = z[0]
            for t in range(1, steps):
                if z[t] - r >= np.float32(threshold[c]):
                    out[i, t, c], r = 1, z[t]
                elif r - z[t] >= np.float32(threshold[c]):
                    out[i, t, features + c], r = 1, z[t]
    return out


def test_delta_gives_the_exact_spikes_of_the_rule():
    x = np.array([[[0.0, 1.0], [0.4, 1.0], [0.6, 0.2], [0.61, 0.25], [0.1, 0.9], [0.1, 0.9]]], np.float32)
    delta = Delta(timesteps=6, mean=(0.0, 0.0), scale=(1.0, 0.5), threshold=(0.5, 0.3))
    spikes = delta.encode(x)
    # channel 0: r=0; 0.4 no; 0.6 ON (r=.6); .61 no; 0.1 OFF (r=.1); channel 1 (z = 2x): r=2; 2 no; .4 OFF (r=.4);
    # .5 no; 1.8 ON (r=1.8); 1.8 no
    assert spikes[0, :, 0].tolist() == [0, 0, 1, 0, 0, 0] and spikes[0, :, 2].tolist() == [0, 0, 0, 0, 1, 0]
    assert spikes[0, :, 1].tolist() == [0, 0, 0, 0, 1, 0] and spikes[0, :, 3].tolist() == [0, 0, 1, 0, 0, 0]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 15, 4)).astype(np.float32)
    delta = Delta().fit(x)
    np.testing.assert_array_equal(delta.encode(x), delta_reference(x, delta.mean, delta.scale, delta.threshold))


def test_encode_is_the_stream_step_over_time_and_ignores_steps_past_a_length():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 9, 3)).astype(np.float32)
    lengths = np.array([9, 1, 4, 9, 2, 7])
    for encoder in (Delta().fit(x, lengths), Direct().fit(x, lengths)):
        whole = encoder.encode(x, lengths=lengths)
        state = {k: np.zeros((6, *s), np.float32) for k, s in encoder.state_shapes().items()}
        for t in range(9):
            step, state = encoder.step(x[:, t], state)
            live = lengths > t
            np.testing.assert_array_equal(whole[live, t], step[live])
            assert not whole[~live, t].any()


def test_fit_uses_the_valid_steps_only():
    x = np.zeros((2, 4, 1), np.float32)
    x[0, :, 0] = [1, 3, 1, 3]
    x[1, :2, 0] = [2, 2]
    x[1, 2:, 0] = 1000.0  # padding beyond the length must not count
    delta = Delta().fit(x, np.array([4, 2]))
    values = np.array([1, 3, 1, 3, 2, 2], np.float64)
    assert delta.mean == (pytest.approx(values.mean()),) and delta.scale == (pytest.approx(values.std(), rel=1e-6),)
    changes = np.abs(np.diff([1, 3, 1, 3])) / values.std()  # sample 1's one change is 0
    assert delta.threshold[0] == pytest.approx(0.5 * np.concatenate([changes, [0.0]]).mean(), rel=1e-6)
    assert Direct().fit(np.ones((3, 2, 2), np.float32)).scale == (1.0, 1.0)  # a constant channel keeps its scale


def test_direct_is_the_normalised_value_in_float32():
    x = np.random.default_rng(2).normal(3, 2, (4, 5, 3)).astype(np.float32)
    direct = Direct().fit(x)
    expected = (x - np.array(direct.mean, np.float32)) / np.array(direct.scale, np.float32)
    out = direct.encode(x)
    assert out.dtype == np.float32 and np.array_equal(out, expected)


def test_latency_fires_once_at_the_time_its_value_says():
    x = np.array([[1.0, 0.5, 0.0, 0.05, 0.999]], np.float32)
    spikes = Latency(timesteps=10).encode(x)
    assert spikes.sum(axis=1).tolist() == [[1, 1, 0, 1, 1]]
    first = [int(np.flatnonzero(spikes[0, :, f])[0]) if spikes[0, :, f].any() else None for f in range(5)]
    assert first == [0, 5, None, 9, 0]  # floor((1 - x) * T), at most T - 1
    state = {"t": np.zeros((1, 1), np.float32)}
    for t in range(10):
        step, state = Latency(timesteps=10).step(x, state)
        np.testing.assert_array_equal(step, spikes[:, t])


@pytest.mark.parametrize("kind", ENCODERS)
def test_every_encoder_round_trips_through_its_metadata(kind):
    x = np.random.default_rng(3).random((5, 7, 2)).astype(np.float32)
    encoder = encoding.get(kind, 7).fit(x) if ENCODERS[kind].SEQUENCES else encoding.get(kind, 7)
    data = encoder.to_dict()
    assert data["kind"] == kind and Encoder.from_dict(data) == encoder
    with pytest.raises(ConfigurationError, match="field"):
        Encoder.from_dict({**data, "bogus": 1})
    sample = (x > 0.5).astype(np.float32) if kind == "spikes" else x if encoder.SEQUENCES else x[:, 0]
    assert np.array_equal(encoder.encode(sample, "test"), Encoder.from_dict(data).encode(sample, "test"))


def test_rate_keeps_its_name_and_form():
    assert encoding.Encoding is Rate and Rate(20, 6.0, 3).to_dict() == {"kind": "rate", "timesteps": 20,
                                                                         "max_spikes": 6.0, "seed": 3}
    assert Encoder.from_dict({"timesteps": 20, "max_spikes": 6.0, "seed": 3}) == Rate(20, 6.0, 3)
    assert not Rate.STREAMS and Rate(4, 2.0).with_timesteps(2).max_spikes == 2.0


def test_bad_encodings_and_inputs_are_typed():
    with pytest.raises(ConfigurationError, match="Unknown encoding kind"):
        Encoder.from_dict({"kind": "morse"})
    with pytest.raises(ConfigurationError, match="threshold"):
        Delta(timesteps=3, mean=(0.0,), scale=(1.0,), threshold=(0.0,))
    with pytest.raises(ConfigurationError, match="scale"):
        Direct(timesteps=3, mean=(0.0,), scale=(-1.0,))
    with pytest.raises(ConfigurationError, match="not fitted"):
        Direct().encode(np.zeros((1, 2, 1)))
    with pytest.raises(InputShapeError):
        Direct().fit(np.zeros((2, 3, 2))).encode(np.zeros((2, 3, 5)))
    with pytest.raises(InputValueError):
        Direct().fit(np.full((1, 2, 1), np.nan))
    with pytest.raises(InputValueError):
        Spikes().encode(np.full((1, 2, 1), 0.5))
    assert dataclasses.replace(Delta(), timesteps=5).threshold == ()
