"""Timing several candidates in one run, interleaved, so machine noise hits all of them alike.

A shared, busy machine slows down for seconds at a time. Timing candidate A for ten
seconds and then B for ten seconds lets such a slow spell land on one of them and skews
their ratio; cycling through all candidates in short bursts spreads it over all of them.
Each round visits every candidate once for ``burst`` calls, starting one candidate later
than the round before, so no candidate always follows the same neighbour (whose cache
footprint or thread wind-down it would inherit). Each burst begins with one untimed call:
a deployed model runs on caches it filled itself, and a call right after another
candidate's (TensorFlow's evicts about a megabyte of weights) would time the refill
instead, up to twice a warm call for the 20-step graphs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence


def schedule(names: Sequence[str], iters: int, burst: int) -> list[tuple[str, int]]:
    """The bursts to run, in order: ``(name, calls)``; each name gets ``iters`` calls in all.

    Round r visits ``names`` rotated by r; every burst has ``burst`` calls except the last
    round's, which has what is left.
    """
    if iters < 1 or burst < 1:
        raise ValueError(f"`iters` and `burst` must be positive integers, got {iters} and {burst}.")
    names = list(names)
    plan, done, shift = [], 0, 0
    while names and done < iters:
        calls = min(burst, iters - done)
        plan += [(name, calls) for name in names[shift:] + names[:shift]]
        done, shift = done + calls, (shift + 1) % len(names)
    return plan


def rounds(iters: int, burst: int) -> int:
    """How many rounds :func:`schedule` makes (progress bars count them)."""
    return -(-iters // burst)


def interleave(candidates: Mapping[str, Callable[[], object]], iters: int, burst: int, warmup: int = 0,
               clock: Callable[[], float] = time.perf_counter, on_round: Callable[[], None] | None = None,
               settle: int = 1) -> dict[str, list[float]]:
    """Time every candidate ``iters`` times, round-robin in bursts; return seconds per call.

    Args:
        candidates: name -> a function doing one unit of work (one step, one sequence).
        iters: timed calls per candidate.
        burst: consecutive calls of one candidate before moving to the next.
        warmup: untimed calls per candidate first (also round-robin, one call each).
        clock: the timer; tests pass a fake one.
        on_round: called after each round (progress).
        settle: untimed calls at the start of each burst.
    """
    for _ in range(warmup):
        for call in candidates.values():
            call()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for i, (name, calls) in enumerate(schedule(names, iters, burst)):
        call, out = candidates[name], samples[name]
        for _ in range(settle):
            call()
        for _ in range(calls):
            start = clock()
            call()
            out.append(clock() - start)
        if on_round is not None and (i + 1) % len(names) == 0:
            on_round()
    return samples
