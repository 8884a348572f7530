"""The streaming session: one ONNX Runtime session serving many independent SNU streams."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from .. import arguments
from ..errors import ConfigurationError, InputShapeError, InputValueError, UnknownStreamError
from .engine import Engine
from .execution import BoundBatch
from .inputs import as_array, check, chunk_ranks, copy_into, describe, dims, step_ranks, to_float32
from .providers import SessionSettings
from .rollout import rollout
from .streams import StreamSnapshot, StreamTable


@dataclass(frozen=True)
class _Bound:
    """Streams ``ids`` (table rows ``slots``) whose current state and latest counts live in ``batch``."""
    batch: BoundBatch
    ids: tuple[int, ...]
    slots: np.ndarray
    index: slice | np.ndarray


class StreamingSession:
    """Stateful spiking inference for many independent streams of one snudeploy ONNX model.

    Shapes: ``step(x [S, *input]) -> spikes [S, C]`` for the S streams named (default: every
    open stream, in open order), or a chunk of K consecutive steps of each of them,
    ``step(x [S, K, *input]) -> spikes [S, K, C]``; ``feed(values [S, F_raw]) -> spikes [S, C]``
    (raw values, encoded per stream first); ``run(x [N, T, *input]) -> scores [N, C]``;
    readouts give one row per stream, following the model's readout (:mod:`snudeploy.readouts`). ``input`` is the model's per-step input shape (``[F]``
    features, or ``[H, W, C]`` channels last for convolutional networks; the same values
    flattened into ``[F]`` are accepted too); C output classes; spikes as bool/int arrays or
    real values.

    Every stream carries, per layer, the states (y, s) of the SNU equations, starting at zero::

        s_t = g(W x_t [+ H y_{t-1}] + decay * s_{t-1} * (1 - y_{t-1}))
        y_t = h(s_t - b)

    A stream's outputs never depend on which other streams share its batch: the batch fed to
    ONNX Runtime holds only the streams named, and their states are gathered from, and
    scattered back to, per-stream slots. When the same streams are stepped twice in a row,
    their states move into ONNX Runtime OrtValues bound with IOBinding (step t's state outputs
    are step t+1's state inputs) and stay there until another call needs them.

    Thread safety: one session may be shared by threads. Calls that read or change stream
    state (open, close, reset, step, snapshot, restore and the readouts) take one lock, so
    concurrent calls run one after another, each complete, in the order the lock is granted;
    a stream stepped from two threads sees both steps, in that order. ``run`` touches no
    stream state and runs concurrently with everything (ONNX Runtime sessions allow that).

    A chunk costs one ONNX Runtime call: a sequence graph runs it directly (T = K); a step
    graph is rolled over time by an ONNX ``Scan`` built from it at the first chunk
    (:mod:`snudeploy.runtime.scan`). Either way the streams end where K single steps would
    have left them, and a chunk is applied whole or not at all.

    Errors: every argument is checked before any state changes, so a call that raises
    (bad shape, dtype, NaN/Inf, unknown stream, foreign snapshot) leaves all streams as
    they were; so does a call that ONNX Runtime fails or that runs past ``run_timeout``.

    Args:
        path_or_bytes: a snudeploy ONNX file (any format, step or sequence graph) or its bytes.
            Sequence graphs of a fixed T (unrolled) step only when T = 1 and take chunks of K = T.
        providers: "cpu", "cuda" (falls back to CPU with one ProviderFallbackWarning),
            "auto" (CUDA when usable) or an explicit list of ONNX Runtime provider names.
        threads: intra-op threads of ONNX Runtime; None leaves its default (all cores).
        graph_optimization_level: "disable", "basic", "extended" or "all".
        io_binding: keep the state of repeatedly stepped streams in bound OrtValues (faster:
            see docs/runtime.md); False copies numpy state in and out every step.
        run_timeout: seconds one ONNX Runtime call may take; a longer call is stopped and
            raises :class:`~snudeploy.errors.RunTimeoutError` (None: no limit).
        trust_operators: run operators snudeploy's exporters do not emit (your own graphs).
        check_digest: refuse a file whose bytes do not match the digest written at export
            (False: a file you edited on purpose; every other check still applies).
        spinning: let ONNX Runtime's idle intra-op threads spin between calls (its default:
            lowest latency for one busy session); False frees the cores for other work, which
            is faster where several multi-threaded sessions share few cores.

    Raises:
        ModelFileError: missing, corrupt, foreign or untrusted file, or metadata from a newer
            snudeploy, or a graph that does not match its metadata.
        ConfigurationError: an invalid argument.
        ProviderError: an explicitly named provider is not in this onnxruntime build.
    """

    def __init__(self, path_or_bytes: str | os.PathLike | bytes, providers: str | list[str] = "cpu",
                 threads: int | None = None, graph_optimization_level: str = "all", io_binding: bool = True,
                 run_timeout: float | None = None, trust_operators: bool = False, spinning: bool = True,
                 check_digest: bool = True):
        for name, value in (("io_binding", io_binding), ("trust_operators", trust_operators),
                            ("spinning", spinning), ("check_digest", check_digest)):
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigurationError(f"Received an invalid value for argument `{name}`, expected True or False, "
                                         f"got {value!r}.")
        settings = SessionSettings(providers, threads, graph_optimization_level, bool(spinning))
        self._engine = Engine(path_or_bytes, settings, run_timeout, bool(trust_operators), bool(check_digest))
        self._model = self._engine.model
        self._input_dims = dims(self._model.info.input.shape)
        self._step_ranks = step_ranks(self._model.info.input.shape)
        self._chunk_ranks = chunk_ranks(self._model.info.input.shape)
        self._steppable = self._model.fixed_timesteps in (None, 1)
        self._binary = self._model.info.input.binary
        self._io_binding = bool(io_binding)
        info = self._model.info
        self._encoder = info.encoding if info.encoding is not None and info.encoding.STREAMS else None
        self._readout = info.readout
        self._table = StreamTable({s.input: s.shape for s in self._model.states}, self.classes,
                                  spiking=info.readout.spiking,
                                  encoder_shapes=self._encoder.state_shapes() if self._encoder else None)
        # an int8 graph reads its layers' spike states as uint8: they must stay 0 or 1
        self._spike_states = tuple(s.input for s in info.states if info.quantization.int8 and s.kind == "y"
                                   and info.layers[s.layer].fields.get("activation") == "step")
        self._lock = threading.Lock()
        self._bound: _Bound | None = None
        self._previous: tuple[int, ...] = ()  # the stream set of the last step

    # -- model and provider -------------------------------------------------------------

    @property
    def info(self):
        """The model's parsed snudeploy metadata (:class:`snudeploy.metadata.ModelInfo`)."""
        return self._model.info

    @property
    def engine(self) -> Engine:
        """The model on its ONNX Runtime session (for :func:`snudeploy.runtime.rollout`)."""
        return self._engine

    @property
    def features(self) -> int:
        """F, the values of one step's input (the product of :attr:`input_shape`)."""
        return self._model.info.features

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The per-step input shape, e.g. ``(784,)`` or ``(28, 28, 1)``."""
        return self._model.info.input.shape

    @property
    def classes(self) -> int:
        return self._model.info.classes

    @property
    def provider(self) -> str:
        """The execution provider ONNX Runtime actually uses first."""
        return self._engine.provider

    @property
    def io_binding(self) -> bool:
        return self._io_binding

    # -- streams --------------------------------------------------------------------------

    @property
    def streams(self) -> list[int]:
        """Ids of the open streams, in open order."""
        with self._lock:
            return self._table.ids

    def open(self, n: int = 1) -> list[int]:
        """Open ``n`` streams at zero state; return their new ids (never reused in this session)."""
        with self._lock:
            return self._table.open(n)

    def close(self, streams) -> None:
        """Close ``streams`` (an id, ids, or None for all) and free their slots."""
        with self._lock:
            ids, slots = self._table.resolve(streams)
            if self._holds_any(slots):
                self._unbind()
            self._table.close(ids, slots)

    def reset(self, streams=None) -> None:
        """Zero the state and readout counters of ``streams`` (None: all open streams)."""
        with self._lock:
            _, slots = self._table.resolve(streams)
            self._change(slots, lambda: self._table.zero(slots))

    # -- inference ------------------------------------------------------------------------

    def step(self, x, streams=None) -> np.ndarray:
        """Advance ``streams`` by one time step, or by a chunk of K steps; the others are untouched.

        Args:
            x: one step ``[len(streams), *input shape]``, row i for the i-th stream named; or a
                chunk ``[len(streams), K, *input shape]``, K >= 1 consecutive steps of each stream
                (a chunk has one axis more than a step; flattened inputs: see
                :func:`~snudeploy.runtime.inputs.chunk_ranks`).
            streams: stream ids (or one id); None steps every open stream in open order.

        Returns:
            The step's output spikes ``[len(streams), C]``, or the chunk's ``[len(streams), K, C]``,
            float32 (a membrane readout's model: the output layer's membrane values).
        """
        if type(x) is not np.ndarray:
            x = as_array(x)
        with self._lock:
            bound = self._bound
            if bound is not None and self._names_bound(streams, bound):
                batch = bound.batch
                if x.ndim == batch.x.ndim and self._steppable:  # the hot path: a few checks, one call
                    copy_into(x, batch.x, self._binary)
                    spikes = batch.step().copy()
                    if batch.counts_due:
                        self._sync()
                    return spikes
                if x.ndim in self._chunk_ranks:
                    return self._run_bound(batch, self._checked_chunk(x, batch.size), True)
            ids, slots = self._table.resolve(streams)
            if not ids:
                raise UnknownStreamError("No streams to step: open some with open() first.")
            if x.ndim in self._chunk_ranks:
                return self._advance(self._checked_chunk(x, len(ids)), ids, slots, chunk=True)
            return self._advance(self._checked_step(x, len(ids)), ids, slots, chunk=False)

    def feed(self, values, streams=None) -> np.ndarray:
        """Encode one raw time step of ``streams`` with the model's encoder, then :meth:`step` them.

        Each stream keeps its own encoder state (a delta encoder's reference, a latency
        encoder's step count): zero after :meth:`open` and :meth:`reset`, carried by
        :meth:`snapshot` and :meth:`restore`. The encoder is the one in the model's metadata
        (:mod:`snudeploy.encoding`); a model whose encoding draws random numbers (``rate``) is
        stepped with its encoded spikes instead. A rejected call (the checks of :meth:`step`,
        and raw values that are not finite numbers of the right shape) changes no stream: the
        encoder's new state is written back only after the step succeeded. (The encoder works on
        one step of a batch of streams from state kept in the stream table, so several steps per
        call would loop it over them.)

        Args:
            values: ``[len(streams), F_raw]`` raw values, row i for the i-th stream named.
            streams: stream ids (or one id); None feeds every open stream in open order.

        Returns:
            That step's output ``[len(streams), C]`` float32, as :meth:`step` returns it.
        """
        encoder = self._encoder
        if encoder is None:
            encoding = self.info.encoding
            what = "no encoding in its metadata" if encoding is None else \
                f"a {encoding.kind} encoding, which draws random numbers"
            raise ConfigurationError(f"{self._model.source} has {what}; feed() encodes deterministic encodings "
                                     "only: step() the encoded input instead.")
        with self._lock:
            self._check_steppable()
            ids, slots = self._table.resolve(streams)
            if not ids:
                raise UnknownStreamError("No streams to feed: open some with open() first.")
            features = encoder.raw_features or self.features
            raw = to_float32(check(values, (("streams", len(ids)), ("features", features))))
            encoded, state = encoder.step(raw, self._table.gather_encoder(slots))
            x32 = to_float32(encoded.reshape(len(ids), *self.input_shape), self._binary)
            spikes = self._advance(x32, ids, slots, chunk=False)
            self._table.scatter_encoder(slots, state)  # only once the step has succeeded
            return spikes

    def _names_bound(self, streams, bound: _Bound) -> bool:
        """Whether ``streams`` names exactly the bound streams, in their order (cheap; False when unsure)."""
        if streams is None:
            return self._table.ids_tuple() == bound.ids
        if type(streams) is int:
            return bound.ids == (streams,)
        if type(streams) is list or type(streams) is tuple:  # True == 1: ints only, checked after the cheap test
            return tuple(streams) == bound.ids and (type(streams[0]) is int if len(streams) == 1
                                                    else all(type(s) is int for s in streams))
        return False

    def _checked_step(self, x: np.ndarray, streams: int) -> np.ndarray:
        """``x`` checked as one step ``[streams, *input shape]`` and converted to float32; change nothing."""
        if x.ndim not in self._step_ranks:
            raise InputShapeError(f"Expected one step {describe((('streams', streams), *self._input_dims))} or a "
                                  f"chunk {describe((('streams', streams), ('steps', None), *self._input_dims))}, "
                                  f"got shape {list(x.shape)}.")
        self._check_steppable()
        return to_float32(check(x, (("streams", streams), *self._input_dims), len(self._input_dims)), self._binary)

    def _checked_chunk(self, x: np.ndarray, streams: int) -> np.ndarray:
        """``x`` checked as a chunk ``[streams, K, *input shape]`` and converted to float32; change nothing."""
        named = (("streams", streams), ("steps", self._model.fixed_timesteps), *self._input_dims)
        array = check(x, named, len(self._input_dims))
        steps = array.shape[1]
        if steps < 1:
            raise InputShapeError(f"A chunk holds at least one step per stream, got shape {list(x.shape)} (K = 0).")
        if steps > arguments.LIMITS["timesteps"]:
            raise InputShapeError(f"A chunk holds at most {arguments.LIMITS['timesteps']:,} steps per stream, got "
                                  f"K = {steps:,}.")
        return to_float32(array, self._binary)

    def _advance(self, x32: np.ndarray, ids: list[int], slots: np.ndarray, chunk: bool) -> np.ndarray:
        """Advance streams ``ids`` (table rows ``slots``) by the checked step ``x32 [S, *input]`` or chunk
        ``x32 [S, K, *input]``: on their bound batch, on a new binding of a set stepped twice in a row,
        or from their gathered states (written back only when the call succeeded with finite states)."""
        key = tuple(ids)
        if self._bound is not None and key == self._bound.ids:  # ids given as numpy ints, say
            return self._run_bound(self._bound.batch, x32, chunk)
        self._unbind()
        index = self._table.index(slots)
        states = self._table.gather(index)
        if self._io_binding and key == self._previous:  # a repeated set: bind it
            batch = self._engine.bind(len(ids))
            batch.load(states)
            spikes = self._run_bound(batch, x32, chunk)
            self._bound = _Bound(batch, key, slots, index)
            return spikes
        spikes, states = self._engine.chunk(x32, states) if chunk else self._engine.step(x32, states)
        if not all(np.isfinite(v).all() for v in states.values()):
            raise InputValueError(f"This {'chunk' if chunk else 'step'} would make a stream's state NaN or Inf "
                                  f"(inputs or weights too large); {'none of its steps was' if chunk else 'it was not'} "
                                  "applied and the state is unchanged.")
        self._table.scatter(index, states)
        if chunk:
            self._table.add_counts(index, spikes.sum(axis=1, dtype=np.float64), spikes[:, -1],
                                   None if self._readout.spiking else spikes.max(axis=1), spikes.shape[1])
        else:
            self._table.record(index, spikes)
        self._previous = key
        return spikes

    def _run_bound(self, batch: BoundBatch, x32: np.ndarray, chunk: bool) -> np.ndarray:
        """One step or chunk of a bound batch; its spike counters move to the table before they could round
        (a batch not yet bound cannot be due: one chunk is at most LIMITS["timesteps"] < FLUSH_STEPS steps)."""
        if chunk:
            spikes = batch.chunk(x32)
        else:
            copy_into(x32, batch.x)
            spikes = batch.step().copy()
        if batch.counts_due:
            self._sync()
        return spikes

    def run(self, x, batch_size: int = 1024) -> np.ndarray:
        """Whole sequences from zero state; open streams are not touched.

        Uses the sequence graph when the model has one, else rolls the step graph over T.

        Args:
            x: ``[N, T, *input shape]`` spikes or values.
            batch_size: sequences per ONNX Runtime call (bounds memory; results do not depend on it).

        Returns:
            The readout's scores over the T steps, ``[N, C]`` float32: mean output rates (spike
            readouts), or the membrane readout's last or largest value.
        """
        fixed = self._model.fixed_timesteps
        array = check(x, (("samples", None), ("timesteps", fixed), *self._input_dims), len(self._input_dims))
        if array.shape[1] < 1:
            raise InputShapeError(f"Expected at least one time step, got shape {list(array.shape)}.")
        arguments.limited(array.shape[1], "timesteps", "timesteps")
        batch_size = arguments.limited(batch_size, "batch_size", "batch")
        array = to_float32(array, self._binary)
        return rollout(self._engine, array, batch_size=batch_size, record=False).rates

    # -- state transfer -------------------------------------------------------------------

    def snapshot(self, stream: int) -> StreamSnapshot:
        """A copy of one stream's state and counters, to restore here or in another session."""
        with self._lock:
            _, slots = self._table.resolve([stream])
            self._sync()
            if self._holds_any(slots):
                self._table.scatter(self._bound.index, self._bound.batch.states())
            return self._table.snapshot(int(slots[0]))

    def restore(self, stream: int, snap: StreamSnapshot) -> None:
        """Give open stream ``stream`` the state and counters of ``snap`` (same layer sizes)."""
        with self._lock:
            _, slots = self._table.resolve([stream])
            self._table.check(snap)
            for name in self._spike_states:
                if not np.isin(snap.states[name], (0.0, 1.0)).all():
                    raise ConfigurationError(f"The snapshot's {name} holds values other than 0 and 1; this int8 "
                                             "model's spike states are spikes (its integer products read them).")
            self._change(slots, lambda: self._table.restore(int(slots[0]), snap))

    # -- readouts -------------------------------------------------------------------------

    def last_spikes(self, streams=None) -> np.ndarray:
        """The last step's output spikes ``[len(streams), C]`` float32 (zeros before any step)."""
        with self._lock:
            self._sync()
            return self._table.last(self._table.resolve(streams)[1])

    def spike_counts(self, streams=None) -> np.ndarray:
        """Output spikes summed since open/reset ``[len(streams), C]`` float64 (exact counts)."""
        with self._lock:
            self._sync()
            return self._table.counts(self._table.resolve(streams)[1])

    def steps_seen(self, streams=None) -> np.ndarray:
        """Time steps each stream has seen since open/reset ``[len(streams)]`` int64."""
        with self._lock:
            self._sync()
            return self._table.steps(self._table.resolve(streams)[1])

    def rates(self, streams=None) -> np.ndarray:
        """The readout's scores so far ``[len(streams), C]`` float32: mean output rates, counts / steps
        (zeros before any step); for a membrane readout the last membrane value (zeros before any step)
        or its maximum so far (-inf before any step)."""
        with self._lock:
            self._sync()
            return self._scores(self._table.resolve(streams)[1])

    def _scores(self, slots: np.ndarray) -> np.ndarray:
        if self._readout.spiking:
            steps = np.maximum(self._table.steps(slots), 1)[:, None]
            return (self._table.counts(slots) / steps).astype(np.float32)
        return (self._table.last(slots) if self._readout.reduce == "last" else self._table.peak(slots)).copy()

    def predict(self, streams=None) -> np.ndarray:
        """Anytime prediction: the argmax of each stream's running score ``[len(streams)]`` int64.

        Valid after any number of steps (ties go to the lower class, as ``run(x).argmax(1)``);
        after a whole sequence it is the model's prediction. See :meth:`decided` to stop early.
        """
        with self._lock:
            self._sync()
            slots = self._table.resolve(streams)[1]
            scores = self._table.counts(slots) if self._readout.spiking else self._scores(slots)
            return scores.argmax(axis=1)

    def decided(self, remaining: int, streams=None) -> np.ndarray:
        """Whether each stream's prediction is final with ``remaining`` steps left ``[len(streams)]`` bool.

        An output unit adds at most 1 to its count per step, so once the leading class is more
        than ``remaining`` spikes ahead of every other class no later input can change the
        prediction; an application can stop feeding such a stream. A membrane value can change
        by any amount in one step: a membrane readout is decided only when no step remains.
        """
        remaining = arguments.integer(remaining, "remaining", 0)
        with self._lock:
            self._sync()
            counts = self._table.counts(self._table.resolve(streams)[1])
        if self.classes == 1 or not self._readout.spiking:
            return np.full(len(counts), self.classes == 1 or remaining == 0)
        top_two = np.partition(counts, -2, axis=1)[:, -2:]
        return top_two[:, 1] - top_two[:, 0] > remaining

    # -- internals ------------------------------------------------------------------------

    def _check_steppable(self) -> None:
        fixed = self._model.fixed_timesteps
        if not self._steppable:
            raise ConfigurationError(f"{self._model.source} ({self._model.info.format} format) has a fixed sequence "
                                     f"length T={fixed}: it runs whole sequences (run()) and chunks of exactly "
                                     f"{fixed} steps, but cannot step one time step; export a step, loop or customop "
                                     "model to stream.")

    def _holds_any(self, slots: np.ndarray) -> bool:
        """Whether the bound batch holds the state of any of ``slots``."""
        return self._bound is not None and bool(np.isin(self._bound.slots, slots).any())

    def _sync(self) -> None:
        """Move the bound batch's spike counts into the table (its states stay bound)."""
        if self._bound is not None and self._bound.batch.steps:
            counts, last, peak, steps = self._bound.batch.take_counts()
            self._table.add_counts(self._bound.index, counts, last, peak, steps)

    def _unbind(self) -> None:
        """Move the bound streams' states and counts back into the table and drop the binding."""
        if self._bound is not None:
            self._sync()
            self._table.scatter(self._bound.index, self._bound.batch.states())
            self._bound = None

    def _change(self, slots: np.ndarray, change) -> None:
        """Apply ``change`` to the table's rows ``slots``, keeping a binding of them in step."""
        self._sync()
        held = self._holds_any(slots)
        if held:
            self._table.scatter(self._bound.index, self._bound.batch.states())
        change()
        if held:
            self._bound.batch.load(self._table.gather(self._bound.index))
