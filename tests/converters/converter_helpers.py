"""Helpers of the converter tests: running exported files on the runtime's execution path."""

from __future__ import annotations

from snudeploy.runtime import Engine, SessionSettings, rollout


def run(path, x):
    """Roll ``path`` over ``x [B, T, F]`` from zero state: the runtime's :class:`~snudeploy.runtime.Rollout`."""
    return rollout(Engine(str(path), SessionSettings("cpu", threads=1)), x)


def output_spikes(result):
    """The output layer's spikes ``[B, T, C]`` of a rollout."""
    return result.spikes[max(result.spikes)]
