"""SynOps, dense MACs and the anytime curve on hand-made spike trains."""

import numpy as np
import pytest

from snudeploy.bench.spikes import SpikeTally, dense_macs, synops


def test_synops_counts_each_arriving_spike_once_per_target_unit():
    # 100 input spikes into 10 units, 7 spikes of layer 0 into 4 units; the output layer's spikes go nowhere
    assert synops(100, [7, 3], units=[10, 4], recurrent=[False, False]) == 100 * 10 + 7 * 4
    # a recurrent layer also sends its own spikes to its own units
    assert synops(100, [7, 3], units=[10, 4], recurrent=[True, False]) == 100 * 10 + 7 * 10 + 7 * 4
    assert synops(100, [None, 3], units=[10, 4], recurrent=[False, False]) is None


def test_dense_macs_is_t_times_fan_in_times_units():
    assert dense_macs(64, [10, 4], [False, False], timesteps=20) == 20 * (64 * 10 + 10 * 4)
    assert dense_macs(64, [10, 4], [True, False], timesteps=20) == 20 * (64 * 10 + 10 * 10 + 10 * 4)


def test_tally_gives_anytime_accuracy_spikes_and_synops():
    x = np.ones((2, 3, 5), np.uint8)                               # 15 input spikes per sample
    hidden = np.zeros((2, 3, 4), np.float32)
    hidden[:, 0, :2] = 1                                           # 2 hidden spikes per sample
    out = np.zeros((2, 3, 2), np.float32)
    out[0, :, 1] = 1                                               # sample 0: class 1 from t=1
    out[1, 1:, 1] = 1                                              # sample 1: class 1 from t=2 ...
    out[1, 0, 0] = out[1, 2, 0] = 1                                # ... but class 0 leads at t=1, then ties
    tally = SpikeTally([4, 2], [False, False], features=5)
    tally.add(x, {0: hidden, 1: out}, labels=np.array([1, 1]))
    figures = tally.figures()
    assert figures["anytime_accuracy"] == [0.5, 0.5, 0.5]          # ties go to the lower class (0)
    assert figures["accuracy"] == 0.5 and list(tally.predictions) == [1, 0]
    assert figures["spikes_per_sample"] == [2.0, 3.5]
    assert figures["input_spikes_per_sample"] == 15.0
    assert figures["synops_per_sample"] == 15 * 4 + 2 * 2
    assert figures["dense_macs_per_sample"] == 3 * (5 * 4 + 4 * 2)
    assert figures["synops_per_mac"] == pytest.approx(64 / 84, abs=1e-5)


def test_tally_reports_unexposed_layers_as_unknown():
    tally = SpikeTally([4, 2], [False, False], features=5)
    tally.add(np.ones((1, 3, 5)), {1: np.ones((1, 3, 2))}, labels=np.array([0]))
    figures = tally.figures()
    assert figures["spikes_per_sample"] == [None, 6.0]
    assert figures["synops_per_sample"] is None and figures["synops_per_mac"] is None
    assert figures["dense_macs_per_sample"] == 3 * (5 * 4 + 4 * 2)
