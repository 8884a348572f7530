"""Interleaving, statistics and ratios as plain functions, with fake timers (nothing is timed for real)."""

import pytest

from snudeploy.bench import interleave, stats


class FakeClock:
    """A clock that advances by the cost of the candidate that runs, so durations are known exactly."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_schedule_rotates_rounds_and_gives_every_candidate_iters_calls():
    plan = interleave.schedule(["a", "b", "c"], iters=12, burst=5)
    assert plan == [("a", 5), ("b", 5), ("c", 5),
                    ("b", 5), ("c", 5), ("a", 5),
                    ("c", 2), ("a", 2), ("b", 2)]
    assert interleave.rounds(12, 5) == 3
    for name in "abc":
        assert sum(calls for n, calls in plan if n == name) == 12


def test_schedule_rejects_nonpositive_counts():
    with pytest.raises(ValueError, match="positive"):
        interleave.schedule(["a"], iters=0, burst=5)


def test_interleave_runs_bursts_round_robin_and_times_each_call():
    clock, order, rounds = FakeClock(), [], []
    costs = {"ort": 1e-5, "tf": 1e-3}

    def candidate(name):
        def call():
            order.append(name)
            clock.now += costs[name]
        return call

    samples = interleave.interleave({n: candidate(n) for n in costs}, iters=4, burst=2, warmup=1, clock=clock,
                                    on_round=lambda: rounds.append(len(order)))
    assert order == ["ort", "tf",                              # warm-up, one call each, untimed
                     "ort", "ort", "ort", "tf", "tf", "tf",    # round 1: each burst settles with one untimed call
                     "tf", "tf", "tf", "ort", "ort", "ort"]    # round 2 starts one candidate later
    assert rounds == [8, 14]
    assert samples["ort"] == pytest.approx([1e-5] * 4) and samples["tf"] == pytest.approx([1e-3] * 4)


def test_summarize_percentiles_throughput_and_noise_flag():
    seconds = [i * 1e-6 for i in range(1, 101)]  # 1..100 µs
    figures = stats.summarize(seconds, batch=16, timesteps=20)
    assert figures["samples"] == 100
    assert figures["p50_us"] == pytest.approx(50.5) and figures["p90_us"] == pytest.approx(90.1)
    assert figures["p99_us"] == pytest.approx(99.01) and figures["mean_us"] == pytest.approx(50.5)
    assert (figures["min_us"], figures["max_us"]) == (1.0, 100.0)
    assert figures["throughput"] == pytest.approx(16 * 20 / 50.5e-6, rel=1e-3)
    assert figures["noisy"] is True


@pytest.mark.parametrize("samples, flagged", [([10, 15, 20], False), ([10, 20.01], True), ([5], False)])
def test_noise_flag_is_max_over_twice_min(samples, flagged):
    assert stats.noisy(samples) is flagged


def test_noise_warning_names_the_row_and_the_spread():
    record = {"label": "step.onnx", "provider": "CPUExecutionProvider", "mode": "step", "batch": 16, "threads": 1,
              "min_us": 40.0, "max_us": 130.0}
    message = stats.noise_warning(record)
    assert "step.onnx" in message and "batch 16" in message and "3.2x" in message and "noisy" in message


def _row(framework, network, p50, batch=1, threads=1, mode="step", timesteps=1):
    return {"framework": framework, "network": network, "p50_us": p50, "batch": batch, "threads": threads,
            "mode": mode, "timesteps": timesteps}


def test_ratio_is_tf_p50_over_row_p50_within_the_same_group():
    records = [_row("onnxruntime", "snu", 50.0), _row("tensorflow", "snu", 1000.0),
               _row("tensorflow", "lstm", 2000.0), _row("onnxruntime", "lstm", 250.0),
               _row("onnxruntime", "snu", 400.0, batch=16), _row("tensorflow", "snu", 800.0, batch=16),
               _row("onnxruntime", "snu", 30.0, threads=2),                      # TF did not run with 2 threads
               _row("onnxruntime", "snu", 500.0, mode="sequence", timesteps=20)]  # no TF sequence row
    ratios = [r["ratio_to_tf"] for r in stats.add_ratios(records)]
    assert ratios == [20.0, 1.0, 0.5, 4.0, 2.0, 1.0, None, None]


def test_without_tf_rows_every_ratio_is_none():
    records = stats.add_ratios([_row("onnxruntime", "snu", 50.0), _row("onnxruntime", "lstm", 250.0)])
    assert [r["ratio_to_tf"] for r in records] == [None, None]
