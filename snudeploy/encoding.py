"""Encoders: how raw samples become the network's input, one registry shared by training, metadata and runtime.

Every encoder is a frozen dataclass whose fields describe it completely (the metadata's
``encoding`` object is its :meth:`~Encoder.to_dict`), so any client can reproduce it:

* ``rate`` (images; the seed's): a static sample in [0, 1] shown for T steps as Bernoulli
  spike trains, ``spike[n, t, f] ~ Bernoulli(x[n, f] * max_spikes / T)`` drawn with numpy's
  ``default_rng(seed)`` (test split: ``seed + 1``) in ``float32``, chunk by chunk (see
  :func:`encode_rate`);
* ``latency`` (images): time to first spike; a value ``x > 0`` fires once, at step
  ``t_f = min(floor((1 - x) * T), T - 1)`` computed in float64 (``x`` = 1 fires at step 0,
  brighter fires earlier); ``x <= 0`` never fires;
* ``delta`` (sequences): send-on-delta per channel, as event sensors do. Each raw value is
  normalised, ``z = (x - mean_c) / scale_c`` in float32; the stream keeps a reference ``r``
  per channel, the first ``z`` of the stream (that step sends nothing); afterwards an ON
  spike when ``z - r >= threshold_c``, an OFF spike when ``r - z >= threshold_c``, each also
  setting ``r = z`` (``r`` stays otherwise). Input per step: the ON spikes of every channel,
  then the OFF spikes of every channel (``2 F`` values);
* ``direct`` (sequences): the normalised values ``z`` themselves, float32, as the first
  layer's input current (no int8 graph: see docs/quantization.md);
* ``spikes`` (sequences): the data already are spikes (0/1), passed as they are.

Arithmetic: ``z`` is one float32 subtraction then one float32 division (IEEE, the same in
any language that rounds each operation to float32), comparisons are on those float32 values.
``mean``, ``scale`` and ``threshold`` are fitted on the training split (:meth:`Encoder.fit`:
mean and standard deviation per channel over every valid step, a zero deviation counting as
1; ``threshold_c = factor * mean |z_t - z_{t-1}|`` over consecutive valid steps, 1 when that
is 0) and stored in full.

Sequence encoders also encode a stream one step at a time (:meth:`Encoder.step`) with the
per-stream state :meth:`Encoder.state_shapes` declares (zero at the start of a stream): the
runtime's ``StreamingSession.feed`` keeps it per stream. :meth:`Encoder.encode` of a whole
split is that step over time, so both give the same input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import arguments
from .errors import ConfigurationError, InputShapeError, InputValueError
from .kinds.base import tagged_dict

_CHUNK_ELEMENTS = 1 << 22  # ~4M random draws per chunk (16 MB of float32 scratch)
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Encoder:
    """Base of the encoders. ``timesteps``: T of a static sample (images), or the longest sequence."""
    timesteps: int = 20

    kind: ClassVar[str]
    SEQUENCES: ClassVar[bool] = False   # raw samples are sequences [T, F] (else static samples shown T steps)
    SPIKES: ClassVar[bool] = True       # the network's input is spikes (0/1): int8 graphs can take it
    STREAMS: ClassVar[bool] = True      # StreamingSession.feed can encode it step by step

    def __post_init__(self):
        arguments.limited(self.timesteps, "timesteps", "timesteps")

    def channels(self, features: int) -> int:
        """Input values per step of the network for ``features`` raw values per step."""
        return features

    @property
    def raw_features(self) -> int | None:
        """Raw values per step this encoder was fitted for (None: any)."""
        return None

    def fit(self, x: np.ndarray, lengths: np.ndarray | None = None, **settings) -> "Encoder":
        """The encoder fitted on the training split ``x`` (nothing to fit by default)."""
        return self

    def with_timesteps(self, timesteps: int) -> "Encoder":
        return dataclasses.replace(self, timesteps=timesteps)

    @property
    def benchmark_spikes(self) -> float:
        """Expected spikes per input over T that synthetic benchmark inputs draw (a quarter of the steps)."""
        return self.timesteps / 4

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-stream state ``{name: shape}`` (float32, zero when a stream opens or resets)."""
        return {}

    def step(self, x: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Encode one raw step ``x [S, F]`` float32 of S streams from ``state``: ``(input [S, C] float32, new state)``."""
        raise NotImplementedError

    def encode(self, x, split: str = "test", lengths=None) -> np.ndarray:
        """A whole split: ``x`` [N, T, F] (sequences, zeros past ``lengths``) -> input ``[N, T, C]``
        (uint8 spikes, or float32 values)."""
        x = sequences(x, self.raw_features)
        state = {name: np.zeros((len(x), *shape), np.float32) for name, shape in self.state_shapes().items()}
        out = np.zeros((*x.shape[:2], self.channels(x.shape[2])), np.uint8 if self.SPIKES else np.float32)
        for t in range(x.shape[1]):
            out[:, t], state = self.step(x[:, t], state)
        if lengths is not None:
            out[np.arange(x.shape[1])[None, :] >= np.asarray(lengths)[:, None]] = 0
        return out

    def to_dict(self) -> dict:
        return tagged_dict(self)

    @classmethod
    def from_dict(cls, data) -> "Encoder":
        """Parse a stored encoding of any kind; :class:`ConfigurationError` names what is wrong."""
        if not isinstance(data, dict):
            raise ConfigurationError(f"An encoding must be a JSON object, got {type(data).__name__}.")
        kind = data.get("kind", "rate")
        encoder = ENCODERS.get(kind) if isinstance(kind, str) else None
        if encoder is None:
            raise ConfigurationError(f"Unknown encoding kind {kind!r}; known kinds: {', '.join(ENCODERS)}.")
        fields = {f.name for f in dataclasses.fields(encoder)}
        unknown = set(data) - fields - {"kind"}
        if unknown:
            raise ConfigurationError(f"Unknown {kind} encoding field(s): {', '.join(sorted(unknown))}.")
        try:
            return encoder(**{k: v for k, v in data.items() if k != "kind"})
        except TypeError as e:
            raise ConfigurationError(f"A {kind} encoding is incomplete: {e}.") from None


@dataclass(frozen=True)
class Rate(Encoder):
    """Rate encoding of static values in [0, 1] (module docstring); ``seed`` is the training split's."""
    max_spikes: float = 6.0
    seed: int = 0

    kind: ClassVar[str] = "rate"
    STREAMS: ClassVar[bool] = False  # random draws: step() the encoded spikes instead

    def __post_init__(self):
        super().__post_init__()
        arguments.number(self.max_spikes, "max_spikes", 0, self.timesteps)
        arguments.integer(self.seed, "seed", 0)
        object.__setattr__(self, "max_spikes", float(self.max_spikes))

    @property
    def benchmark_spikes(self) -> float:
        return self.max_spikes

    def split_seed(self, split: str) -> int:
        return self.seed + SPLITS.index(arguments.choice(split, "split", SPLITS))

    def with_timesteps(self, timesteps: int) -> "Rate":
        """The same encoding over ``timesteps`` steps (``max_spikes`` capped at T)."""
        return dataclasses.replace(self, timesteps=timesteps, max_spikes=min(self.max_spikes, timesteps))

    def encode(self, x01, split: str = "test", lengths=None) -> np.ndarray:
        """``x01`` [N, ...] in [0, 1] as uint8 spikes [N, T, F], encoded as ``split`` is."""
        return encode_rate(x01, self.timesteps, self.max_spikes, self.split_seed(split))


Encoding = Rate  # the seed's encoder, under the name checkpoints and callers have always used


@dataclass(frozen=True)
class Latency(Encoder):
    """Time-to-first-spike encoding of static values in [0, 1] (module docstring)."""
    kind: ClassVar[str] = "latency"
    benchmark_spikes: ClassVar[float] = 1.0

    def first_step(self, x: np.ndarray) -> np.ndarray:
        """The step each value fires at (float64; ``inf`` for values that never fire)."""
        x = np.asarray(x, np.float32).astype(np.float64)
        first = np.minimum(np.floor((1.0 - x) * self.timesteps), self.timesteps - 1)
        return np.where(x > 0, first, np.inf)

    def state_shapes(self):
        return {"t": (1,)}

    def step(self, x, state):
        _unit_interval(x, "Latency")  # as encode() does: values outside [0, 1] are an error, not silence
        t = state["t"]
        return (self.first_step(x) == t).astype(np.float32), {"t": t + 1}

    def encode(self, x01, split: str = "test", lengths=None) -> np.ndarray:
        x = _unit_interval(x01, "Latency")
        first = self.first_step(x)
        return (np.arange(self.timesteps)[None, :, None] == first[:, None, :]).astype(np.uint8)


@dataclass(frozen=True)
class Normalised(Encoder):
    """Sequence encoders that normalise each channel: ``z = (x - mean) / scale`` in float32."""
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()

    SEQUENCES: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        for name in ("mean", "scale"):
            values = _numbers(getattr(self, name), name)
            object.__setattr__(self, name, values)
        if len(self.mean) != len(self.scale):
            raise ConfigurationError(f"An encoding's `mean` and `scale` differ in length ({len(self.mean)} and "
                                     f"{len(self.scale)}).")
        if any(s <= 0 for s in self.scale):
            raise ConfigurationError("An encoding's `scale` values must be positive.")

    @property
    def raw_features(self) -> int | None:
        return len(self.mean) or None

    def normalise(self, x: np.ndarray) -> np.ndarray:
        if not self.mean:
            raise ConfigurationError(f"This {self.kind} encoding is not fitted (no mean and scale); fit it on the "
                                     "training split first.")
        return (x.astype(np.float32) - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)

    def fit(self, x, lengths=None, **settings):
        return dataclasses.replace(self, **_moments(sequences(x), lengths))


@dataclass(frozen=True)
class Direct(Normalised):
    """The normalised values as the first layer's input current (float input)."""
    kind: ClassVar[str] = "direct"
    SPIKES: ClassVar[bool] = False

    def step(self, x, state):
        return self.normalise(x), state


@dataclass(frozen=True)
class Delta(Normalised):
    """Send-on-delta spikes per channel (module docstring): ON spikes, then OFF spikes."""
    threshold: tuple[float, ...] = ()

    kind: ClassVar[str] = "delta"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "threshold", _numbers(self.threshold, "threshold"))
        if len(self.threshold) != len(self.mean) or any(t <= 0 for t in self.threshold):
            raise ConfigurationError(f"A delta encoding needs one positive threshold per channel "
                                     f"({len(self.mean)}), got {len(self.threshold)}.")

    def channels(self, features: int) -> int:
        return 2 * features

    def state_shapes(self):
        return {"reference": (len(self.mean),), "started": (1,)}

    def step(self, x, state):
        z, r, started = self.normalise(x), state["reference"], state["started"] > 0
        threshold = np.asarray(self.threshold, np.float32)
        on = started & (z - r >= threshold)
        off = started & (r - z >= threshold)
        reference = np.where(on | off | ~started, z, r)
        return (np.concatenate([on, off], axis=1).astype(np.float32),
                {"reference": reference, "started": np.ones_like(state["started"])})

    def fit(self, x, lengths=None, factor: float = 0.5, **settings):
        factor = arguments.number(factor, "factor", 0, min_open=True)
        x = sequences(x)
        moments = _moments(x, lengths)
        direct = Direct(moments["timesteps"], moments["mean"], moments["scale"])
        z = direct.normalise(x).astype(np.float64)
        valid = _valid_steps(z, lengths)
        pairs = valid[:, 1:] & valid[:, :-1]
        change = np.abs(np.diff(z, axis=1))[pairs].mean(axis=0) if pairs.any() else np.zeros(z.shape[2])
        return dataclasses.replace(self, **moments, threshold=tuple(_f32(np.where(change > 0, factor * change, 1.0))))


@dataclass(frozen=True)
class Spikes(Encoder):
    """Sequences that already are spikes (0/1): the input as it is."""
    kind: ClassVar[str] = "spikes"
    SEQUENCES: ClassVar[bool] = True

    def fit(self, x, lengths=None, **settings):
        return dataclasses.replace(self, timesteps=int(sequences(x).shape[1]))

    def step(self, x, state):
        if ((x != 0) & (x != 1)).any():
            raise InputValueError("This model's encoding is `spikes`: feed 0 or 1 values only.")
        return x.astype(np.float32), state


ENCODERS: dict[str, type[Encoder]] = {e.kind: e for e in (Rate, Latency, Delta, Direct, Spikes)}


def get(kind: str, timesteps: int = 20, **fields) -> Encoder:
    """An (unfitted) encoder of ``kind``; :class:`ConfigurationError` names the choices otherwise."""
    encoder = ENCODERS.get(kind) if isinstance(kind, str) else None
    if encoder is None:
        raise ConfigurationError(f"Unknown encoding {kind!r}; choose one of {', '.join(ENCODERS)}.")
    return encoder(timesteps=timesteps, **fields)


def sequences(x, features: int | None = None) -> np.ndarray:
    """``x`` as a finite numeric array [N, T, F] (``features`` F when given)."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise InputValueError(f"Sequences must be numbers, got dtype {x.dtype}.")
    if x.ndim != 3 or (features is not None and x.shape[2] != features):
        wanted = f"[N, T, {features}]" if features else "[N, T, F]"
        raise InputShapeError(f"Sequences must have shape {wanted}, got {list(x.shape)}.")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise InputValueError("Sequences hold NaN or Inf values.")
    return x


def _moments(x: np.ndarray, lengths) -> dict:
    """``timesteps``, per-channel ``mean`` and ``scale`` (standard deviation; 1 where it is 0) over valid steps."""
    values = x[_valid_steps(x, lengths)].astype(np.float64)       # [steps, F]
    std = values.std(axis=0)
    return {"timesteps": int(x.shape[1]), "mean": tuple(_f32(values.mean(axis=0))),
            "scale": tuple(_f32(np.where(std > 0, std, 1.0)))}


def _valid_steps(x: np.ndarray, lengths) -> np.ndarray:
    """[N, T] bool: the steps within each sequence's length (all when ``lengths`` is None)."""
    if lengths is None:
        return np.ones(x.shape[:2], bool)
    return np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None]


def _numbers(values, name: str) -> tuple[float, ...]:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise ConfigurationError(f"Received an invalid value for argument `{name}`, expected a list of numbers, "
                                 f"got {values!r}.")
    out = tuple(arguments.number(v, name) for v in values)
    if len(out) > arguments.LIMITS["features"]:
        raise ConfigurationError(f"`{name}` lists more than {arguments.LIMITS['features']:,} values.")
    return out


def _f32(values) -> list[float]:
    """Values rounded to float32 (the arithmetic's precision), as Python floats (exact in JSON)."""
    return [float(v) for v in np.asarray(values, np.float32)]


def _unit_interval(x01, what: str) -> np.ndarray:
    x = np.asarray(x01)
    if x.dtype.kind not in "biuf":
        raise InputValueError(f"{what} encoding needs numbers in [0, 1], got dtype {x.dtype}.")
    x = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(1, -1)
    if not np.all(np.isfinite(x)) or x.min(initial=0) < 0 or x.max(initial=0) > 1:
        raise InputValueError(f"{what} encoding needs finite values in [0, 1]; scale the data first.")
    return x


def encode_rate(x01, timesteps: int = 20, max_spikes: float = 6, seed: int = 0) -> np.ndarray:
    """Encode values in [0, 1] of shape [N, ...] into uint8 spikes [N, T, F].

    Args:
        x01: array [N, ...] of values in [0, 1]; trailing axes are flattened into F.
        timesteps: number of time steps T.
        max_spikes: expected spikes over T for a value of 1 (must be <= T).
        seed: seed of the random generator; the same seed gives the same spikes.
    """
    timesteps = arguments.limited(timesteps, "timesteps", "timesteps")
    max_spikes = arguments.number(max_spikes, "max_spikes", 0, timesteps)
    seed = arguments.integer(seed, "seed", 0)
    x = _unit_interval(x01, "Rate")
    n, features = x.shape
    probability = (x * (max_spikes / timesteps)).astype(np.float32)
    rng = np.random.default_rng(seed)
    spikes = np.empty((n, timesteps, features), dtype=np.uint8)
    rows = max(1, _CHUNK_ELEMENTS // max(1, timesteps * features))
    for start in range(0, n, rows):
        p = probability[start:start + rows, None, :]
        draws = rng.random((p.shape[0], timesteps, features), dtype=np.float32)
        np.less(draws, p, out=spikes[start:start + rows], casting="unsafe")
    return spikes

