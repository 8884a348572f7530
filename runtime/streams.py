"""Per-stream state and readout counters, kept in slots of preallocated numpy pools.

Each open stream owns one slot (a row) of every state pool ``[capacity, *shape]`` and of
the counters; a batch is gathered with one fancy index per tensor and scattered back the
same way. Stream ids are never reused within a table; slots of closed streams are.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from .. import arguments
from ..errors import ConfigurationError, UnknownStreamError


@dataclass(frozen=True)
class StreamSnapshot:
    """One stream's complete state: picklable, restorable into any session of the same network.

    Attributes:
        states: state input name (``l{i}_y``, ``l{i}_s``) -> float32 array of the state's shape.
        steps: time steps the stream has seen since it was opened or reset.
        counts: output spike counts ``[C]`` (float64, exact).
        last: the last step's output spikes ``[C]`` (float32).
    """
    states: dict[str, np.ndarray]
    steps: int
    counts: np.ndarray
    last: np.ndarray


class StreamTable:
    """Slots, state pools ``{name: [capacity, *shape]}`` and counters ``[capacity, C]``.

    Args:
        state_shapes: state input name -> its per-stream shape, in the model's layer order.
        classes: C, the width of the output layer.
    """

    def __init__(self, state_shapes: dict[str, tuple[int, ...]], classes: int, capacity: int = 8):
        self._shapes = {name: tuple(shape) for name, shape in state_shapes.items()}
        self._classes = classes
        self._states = {name: np.zeros((capacity, *shape), np.float32) for name, shape in self._shapes.items()}
        self._counts = np.zeros((capacity, classes), np.float64)
        self._last = np.zeros((capacity, classes), np.float32)
        self._steps = np.zeros(capacity, np.int64)
        self._slot_of: dict[int, int] = {}  # insertion order = open order
        self._free = list(range(capacity - 1, -1, -1))
        self._next_id = 0
        self._ids_tuple: tuple[int, ...] | None = ()

    @property
    def ids(self) -> list[int]:
        return list(self._slot_of)

    def ids_tuple(self) -> tuple[int, ...]:
        """The open ids as a tuple, cached until streams open or close (the hot path compares it)."""
        if self._ids_tuple is None:
            self._ids_tuple = tuple(self._slot_of)
        return self._ids_tuple

    def open(self, n: int) -> list[int]:
        limit = arguments.LIMITS["streams"]
        n = arguments.integer(n, "n", 1, limit)
        if len(self._slot_of) + n > limit:
            raise ConfigurationError(f"Opening {n} stream(s) would exceed the limit of {limit:,} open streams "
                                     f"per session ({len(self._slot_of):,} are open); close some first.")
        while len(self._free) < n:
            self._grow()
        ids = list(range(self._next_id, self._next_id + int(n)))
        self._next_id += int(n)
        slots = [self._free.pop() for _ in ids]
        self._slot_of.update(zip(ids, slots))
        self._ids_tuple = None
        self.zero(np.array(slots))
        return ids

    def close(self, ids: list[int], slots: np.ndarray) -> None:
        for stream, slot in zip(ids, slots.tolist()):
            del self._slot_of[stream]
            self._free.append(slot)
        self._ids_tuple = None

    def resolve(self, streams) -> tuple[list[int], np.ndarray]:
        """Check ``streams`` (None: all open) and return (ids, their slots); change nothing.

        Raises:
            UnknownStreamError: an id that is not an int, was never opened, is closed, or repeats.
        """
        if streams is None:
            ids = self.ids
        else:
            if isinstance(streams, (int, np.integer, bool, np.bool_)):
                streams = [streams]
            if isinstance(streams, (dict, set, frozenset, str, bytes)):
                raise UnknownStreamError(f"Expected stream ids as an int, a list, tuple or array of ints, or None, "
                                         f"got a {type(streams).__name__}.")
            try:
                items = list(streams)
            except TypeError:
                raise UnknownStreamError(f"Expected stream ids (ints from open()) or None, got {streams!r}.") from None
            ids = []
            for item in items:
                if isinstance(item, (bool, np.bool_)):
                    raise UnknownStreamError(f"Stream ids are the ints open() returned, got {item!r}.")
                try:
                    stream = operator.index(item)
                except TypeError:
                    raise UnknownStreamError(f"Stream ids are the ints open() returned, got {item!r}.") from None
                if stream not in self._slot_of:
                    state = "was closed" if 0 <= stream < self._next_id else "was never opened"
                    raise UnknownStreamError(f"Stream {stream} {state}; open streams: {_brief(self.ids)}.")
                ids.append(stream)
            if len(set(ids)) != len(ids):
                repeated = sorted({s for s in ids if ids.count(s) > 1})
                raise UnknownStreamError(f"Each stream may appear once per call; repeated: {repeated}.")
        return ids, np.fromiter((self._slot_of[s] for s in ids), np.intp, len(ids))

    @staticmethod
    def index(slots: np.ndarray) -> slice | np.ndarray:
        """``slots`` as a slice when consecutive and ascending: indexing then makes views, not copies."""
        if len(slots) and (np.diff(slots) == 1).all():
            return slice(int(slots[0]), int(slots[-1]) + 1)
        return slots

    def gather(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        return {name: pool[slots] for name, pool in self._states.items()}

    def scatter(self, slots: np.ndarray, states: dict[str, np.ndarray]) -> None:
        for name, pool in self._states.items():
            pool[slots] = states[name]

    def record(self, index: slice | np.ndarray, spikes: np.ndarray) -> None:
        """Count one step's output ``spikes [B, C]`` of the slots ``index`` (see :meth:`index`)."""
        self.add_counts(index, spikes, spikes, 1)

    def add_counts(self, index: slice | np.ndarray, counts: np.ndarray, last: np.ndarray, steps: int) -> None:
        """Add ``steps`` steps' output spike ``counts [B, C]`` to the slots ``index``; ``last`` is the latest step's."""
        self._counts[index] += counts
        self._last[index] = last
        self._steps[index] += steps

    def zero(self, slots: np.ndarray) -> None:
        for pool in self._states.values():
            pool[slots] = 0
        self._counts[slots] = 0
        self._last[slots] = 0
        self._steps[slots] = 0

    def counts(self, slots: np.ndarray) -> np.ndarray:
        return self._counts[slots]

    def last(self, slots: np.ndarray) -> np.ndarray:
        return self._last[slots]

    def steps(self, slots: np.ndarray) -> np.ndarray:
        return self._steps[slots]

    def snapshot(self, slot: int) -> StreamSnapshot:
        return StreamSnapshot(states={name: pool[slot].copy() for name, pool in self._states.items()},
                              steps=int(self._steps[slot]), counts=self._counts[slot].copy(),
                              last=self._last[slot].copy())

    def check(self, snap) -> None:
        """Raise :class:`ConfigurationError` unless ``snap`` fits this network; change nothing."""
        if not isinstance(snap, StreamSnapshot):
            raise ConfigurationError(f"Expected a StreamSnapshot from snapshot(), got {type(snap).__name__}.")
        if not isinstance(snap.states, dict):
            raise ConfigurationError(f"The snapshot's states must be a dict, got {type(snap.states).__name__}.")
        have = {name: np.shape(value) for name, value in snap.states.items()}
        want = dict(self._shapes)
        if have != want:
            raise ConfigurationError(f"The snapshot does not fit this model: it holds states {have}, "
                                     f"this model has {want}.")
        for what, value in (("counts", snap.counts), ("last", snap.last)):
            if np.shape(value) != (self._classes,):
                raise ConfigurationError(f"The snapshot's {what} have shape {np.shape(value)}; this model has "
                                         f"{self._classes} output classes.")
        arrays = {**{f"state {n}": v for n, v in snap.states.items()}, "counts": snap.counts, "last": snap.last}
        for what, value in arrays.items():
            kind = np.asarray(value).dtype.kind
            if kind not in "biuf":
                raise ConfigurationError(f"The snapshot's {what} must be real numbers, got dtype "
                                         f"{np.asarray(value).dtype}.")
        if isinstance(snap.steps, (bool, np.bool_)) or not isinstance(snap.steps, (int, np.integer)) or snap.steps < 0:
            raise ConfigurationError(f"The snapshot's step count must be a non-negative integer, got {snap.steps!r}.")
        if not all(np.all(np.isfinite(np.asarray(v, np.float64))) for v in arrays.values()):
            raise ConfigurationError("The snapshot holds NaN or Inf values.")
        counts = np.asarray(snap.counts, np.float64)
        if (counts < 0).any() or (counts > snap.steps).any():
            raise ConfigurationError("The snapshot's spike counts must lie between 0 and its step count "
                                     "(an output adds at most 1 per step).")

    def restore(self, slot: int, snap: StreamSnapshot) -> None:
        for name, pool in self._states.items():
            pool[slot] = snap.states[name]
        self._steps[slot] = snap.steps
        self._counts[slot] = snap.counts
        self._last[slot] = snap.last

    def _grow(self) -> None:
        old = len(self._steps)
        new = 2 * old
        self._states = {name: _extend(pool, new) for name, pool in self._states.items()}
        self._counts, self._last = _extend(self._counts, new), _extend(self._last, new)
        self._steps = _extend(self._steps, new)
        self._free = list(range(new - 1, old - 1, -1)) + self._free


def _extend(array: np.ndarray, rows: int) -> np.ndarray:
    grown = np.zeros((rows, *array.shape[1:]), array.dtype)
    grown[:len(array)] = array
    return grown


def _brief(ids: list[int], limit: int = 8) -> str:
    if not ids:
        return "none"
    shown = ", ".join(map(str, ids[:limit]))
    return f"[{shown}{', ...' if len(ids) > limit else ''}] ({len(ids)})"
