"""Per-stream state and readout counters, kept in slots of preallocated numpy pools.

Each open stream owns one slot (a row) of every state pool ``[capacity, *shape]`` and of
the counters; a batch is gathered with one fancy index per tensor and scattered back the
same way. Stream ids are never reused within a table; slots of closed streams are. The
pools hold the network's states and the encoder's (``StreamingSession.feed``: a delta
encoder's reference, a latency encoder's step), so both travel in a snapshot.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from .. import arguments
from ..errors import ConfigurationError, UnknownStreamError


@dataclass(frozen=True)
class StreamSnapshot:
    """One stream's complete state: picklable, restorable into any session of the same network.

    Attributes:
        states: state input name (``l{i}_y``, ``l{i}_s``) -> float32 array of the state's shape.
        steps: time steps the stream has seen since it was opened or reset.
        counts: output spike counts ``[C]`` (float64, exact; sums of membrane values for that readout).
        last: the last step's output spikes ``[C]`` (float32).
        peak: the largest output of each class since open/reset ``[C]`` (float32; -inf before any step).
        encoder: the encoder's per-stream state (name -> float32 array), empty for stateless encoders.
    """
    states: dict[str, np.ndarray]
    steps: int
    counts: np.ndarray
    last: np.ndarray
    peak: np.ndarray | None = None
    encoder: dict[str, np.ndarray] = field(default_factory=dict)


class StreamTable:
    """Slots, state pools ``{name: [capacity, *shape]}`` and counters ``[capacity, C]``.

    Args:
        state_shapes: state input name -> its per-stream shape, in the model's layer order.
        classes: C, the width of the output layer.
        spiking: the output layer spikes (its counts lie between 0 and the steps seen).
        encoder_shapes: the encoder's per-stream state, name -> shape.
    """

    def __init__(self, state_shapes: dict[str, tuple[int, ...]], classes: int, capacity: int = 8,
                 spiking: bool = True, encoder_shapes: dict[str, tuple[int, ...]] | None = None):
        self._shapes = {name: tuple(shape) for name, shape in state_shapes.items()}
        self._encoder_shapes = {name: tuple(shape) for name, shape in (encoder_shapes or {}).items()}
        self._classes, self._spiking = classes, spiking
        self._states = {name: np.zeros((capacity, *shape), np.float32) for name, shape in self._shapes.items()}
        self._encoder = {name: np.zeros((capacity, *shape), np.float32) for name, shape in self._encoder_shapes.items()}
        self._counts = np.zeros((capacity, classes), np.float64)
        self._last = np.zeros((capacity, classes), np.float32)
        self._peak = np.full((capacity, classes), -np.inf, np.float32)
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

    def gather_encoder(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        return {name: pool[slots] for name, pool in self._encoder.items()}

    def scatter_encoder(self, slots: np.ndarray, states: dict[str, np.ndarray]) -> None:
        for name, pool in self._encoder.items():
            pool[slots] = states[name]

    def record(self, index: slice | np.ndarray, spikes: np.ndarray) -> None:
        """Count one step's output ``spikes [B, C]`` of the slots ``index`` (see :meth:`index`)."""
        self.add_counts(index, spikes, spikes, spikes, 1)

    def add_counts(self, index: slice | np.ndarray, counts: np.ndarray, last: np.ndarray, peak: np.ndarray | None,
                   steps: int) -> None:
        """Add ``steps`` steps' output ``counts [B, C]`` to the slots ``index``; ``last`` is the latest step's,
        ``peak`` their maximum (None: not kept)."""
        self._counts[index] += counts
        self._last[index] = last
        if peak is not None:
            self._peak[index] = np.maximum(self._peak[index], peak)
        self._steps[index] += steps

    def zero(self, slots: np.ndarray) -> None:
        for pool in (*self._states.values(), *self._encoder.values()):
            pool[slots] = 0
        self._counts[slots] = 0
        self._last[slots] = 0
        self._peak[slots] = -np.inf
        self._steps[slots] = 0

    def counts(self, slots: np.ndarray) -> np.ndarray:
        return self._counts[slots]

    def last(self, slots: np.ndarray) -> np.ndarray:
        return self._last[slots]

    def peak(self, slots: np.ndarray) -> np.ndarray:
        return self._peak[slots]

    def steps(self, slots: np.ndarray) -> np.ndarray:
        return self._steps[slots]

    def snapshot(self, slot: int) -> StreamSnapshot:
        return StreamSnapshot(states={name: pool[slot].copy() for name, pool in self._states.items()},
                              steps=int(self._steps[slot]), counts=self._counts[slot].copy(),
                              last=self._last[slot].copy(), peak=self._peak[slot].copy(),
                              encoder={name: pool[slot].copy() for name, pool in self._encoder.items()})

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
        if not isinstance(snap.encoder, dict):
            raise ConfigurationError(f"The snapshot's encoder state must be a dict, got {type(snap.encoder).__name__}.")
        have = {name: np.shape(value) for name, value in snap.encoder.items()}
        if have != self._encoder_shapes:
            raise ConfigurationError(f"The snapshot does not fit this model's encoder: it holds encoder state {have}, "
                                     f"this model's encoder has {self._encoder_shapes}.")
        peak = np.full(self._classes, -np.inf) if snap.peak is None else snap.peak
        for what, value in (("counts", snap.counts), ("last", snap.last), ("peak", peak)):
            if np.shape(value) != (self._classes,):
                raise ConfigurationError(f"The snapshot's {what} have shape {np.shape(value)}; this model has "
                                         f"{self._classes} output classes.")
        arrays = {**{f"state {n}": v for n, v in snap.states.items()}, "counts": snap.counts, "last": snap.last,
                  **{f"encoder state {n}": v for n, v in snap.encoder.items()}}
        if np.asarray(peak).dtype.kind not in "biuf" or np.isnan(np.asarray(peak, np.float64)).any() or \
                (np.asarray(peak, np.float64) == np.inf).any():
            raise ConfigurationError("The snapshot's peak must be real numbers (or -inf before any step).")
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
        if self._spiking and ((counts < 0).any() or (counts > snap.steps).any()):
            raise ConfigurationError("The snapshot's spike counts must lie between 0 and its step count "
                                     "(an output adds at most 1 per step).")

    def restore(self, slot: int, snap: StreamSnapshot) -> None:
        for name, pool in self._states.items():
            pool[slot] = snap.states[name]
        for name, pool in self._encoder.items():
            pool[slot] = snap.encoder[name]
        self._steps[slot] = snap.steps
        self._counts[slot] = snap.counts
        self._last[slot] = snap.last
        self._peak[slot] = -np.inf if snap.peak is None else snap.peak

    def _grow(self) -> None:
        old = len(self._steps)
        new = 2 * old
        self._states = {name: _extend(pool, new) for name, pool in self._states.items()}
        self._encoder = {name: _extend(pool, new) for name, pool in self._encoder.items()}
        self._counts, self._last = _extend(self._counts, new), _extend(self._last, new)
        self._peak = _extend(self._peak, new, -np.inf)
        self._steps = _extend(self._steps, new)
        self._free = list(range(new - 1, old - 1, -1)) + self._free


def _extend(array: np.ndarray, rows: int, fill: float = 0) -> np.ndarray:
    grown = np.full((rows, *array.shape[1:]), fill, array.dtype)
    grown[:len(array)] = array
    return grown


def _brief(ids: list[int], limit: int = 8) -> str:
    if not ids:
        return "none"
    shown = ", ".join(map(str, ids[:limit]))
    return f"[{shown}{', ...' if len(ids) > limit else ''}] ({len(ids)})"
