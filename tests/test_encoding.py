import numpy as np
import pytest

from snudeploy import encode_rate
from snudeploy.errors import ConfigurationError, InputValueError


def test_rates_match_probability():
    values = np.linspace(0, 1, 11, dtype=np.float32)
    x = np.tile(values, (4000, 1))
    spikes = encode_rate(x, timesteps=20, max_spikes=6, seed=3)
    assert spikes.dtype == np.uint8 and spikes.shape == (4000, 20, 11)
    expected = values * 6 / 20
    observed = spikes.mean(axis=(0, 1))
    stderr = np.sqrt(expected * (1 - expected) / (4000 * 20)) + 1e-9
    assert np.all(np.abs(observed - expected) <= 5 * stderr)
    assert spikes[:, :, 0].sum() == 0  # value 0 never fires


def test_seeded_and_shape_flattening():
    x = np.random.default_rng(0).random((5, 8, 8))
    a = encode_rate(x, 10, 3, seed=1)
    assert a.shape == (5, 10, 64)
    np.testing.assert_array_equal(a, encode_rate(x, 10, 3, seed=1))
    assert not np.array_equal(a, encode_rate(x, 10, 3, seed=2))


def test_chunking_does_not_change_statistics(monkeypatch):
    import snudeploy.encoding as enc
    x = np.full((300, 50), 0.5, np.float32)
    monkeypatch.setattr(enc, "_CHUNK_ELEMENTS", 1000)  # many chunks
    spikes = enc.encode_rate(x, 20, 10, seed=0)
    assert abs(spikes.mean() - 0.25) < 0.01


@pytest.mark.parametrize("kwargs", [dict(timesteps=0), dict(timesteps=5, max_spikes=6), dict(timesteps=2.5)])
def test_bad_configuration(kwargs):
    with pytest.raises(ConfigurationError):
        encode_rate(np.zeros((1, 4)), **kwargs)


@pytest.mark.parametrize("bad", [np.array([[0.5, np.nan]]), np.array([[1.5, 0.1]]), np.array([[-0.1, 0.1]])])
def test_bad_values(bad):
    with pytest.raises(InputValueError):
        encode_rate(bad, 4, 2)
