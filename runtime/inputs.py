"""Checking input arrays before anything runs, so that a rejected call changes nothing.

Spikes may come as bool or integer arrays, values as any real float. Values must be
finite and within ``±INPUT_LIMIT`` after conversion to float32 (a float64 of 1e39 becomes
Inf there): SNU inputs are spikes or values in [0, 1], and a bound keeps every membrane
state finite. Models that take spikes only (int8 graphs) take whole numbers up to
``SPIKE_LIMIT``: ONNX Runtime's u8 x s8 kernels without VNNI (AVX2, AVX-512 without VNNI)
add pairs of products in saturating int16, and a pair of products of values up to 128 and
int8 weights stays within it (2 x 128 x 128 = 32768), so every CPU computes the same bits.
Messages are built only on failure: these checks run on every step.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputDTypeError, InputShapeError, InputValueError

INPUT_LIMIT = 1e6
SPIKE_LIMIT = 128  # the largest whole number an int8 graph takes (see above)
_SQUARED_LIMIT = INPUT_LIMIT ** 2


def dims(shape) -> tuple[tuple[str, int], ...]:
    """Named axes of a per-step input ``shape`` (for messages): features, or height/width/channels."""
    shape = tuple(shape)
    names = {1: ("features",), 3: ("height", "width", "channels")}.get(len(shape), [f"axis{i}" for i in range(len(shape))])
    return tuple(zip(names, shape))


def chunk_ranks(shape) -> frozenset[int]:
    """The ranks of an input that holds chunks ``[S, K, *shape]`` of K steps per stream, not one step ``[S, *shape]``.

    A chunk has one axis more than a step. Per-step inputs may also come flattened: ``[S, F]``
    is a step and ``[S, K, F]`` a chunk, the latter only for inputs of rank 3 or more (for a
    2-D input ``[A, B]``, rank 3 is a step ``[S, A, B]``, so its chunks come as ``[S, K, A, B]``).
    """
    rank = len(tuple(shape))
    return frozenset({rank + 2} | ({3} if rank >= 3 else set()))


def step_ranks(shape) -> frozenset[int]:
    """The ranks of an input that holds one step ``[S, *shape]`` (or ``[S, F]`` flattened)."""
    rank = len(tuple(shape))
    return frozenset({rank + 1} | ({2} if rank >= 2 else set()))


def as_array(x) -> np.ndarray:
    """``x`` (an array or nested lists) as a numpy array; :class:`InputShapeError` when it is ragged."""
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise InputShapeError(f"Expected an array of numbers, got a ragged sequence ({e}).") from None


def check(x, dims: tuple[tuple[str, int | None], ...], step: int = 1) -> np.ndarray:
    """Return ``x`` as an array after checking its dtype and shape.

    Args:
        x: the caller's array (or nested lists).
        dims: the wanted shape as (axis name, size) pairs; size None accepts any size.
        step: how many trailing axes are one step's input; when they are several
            (``[..., H, W, C]``), the same values flattened into one axis (``[..., H*W*C]``) are
            accepted too, and reshaped.

    Raises:
        InputDTypeError: non-numeric values (object, string, complex, ...).
        InputShapeError: wrong rank or size.
    """
    try:
        array = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise InputShapeError(f"Expected input of shape {describe(dims)}, got a ragged sequence ({e}).") from None
    if array.dtype.kind not in "biuf":
        raise InputDTypeError(f"Expected spikes (bool/int) or real values (float) of shape {describe(dims)}, "
                              f"got dtype {array.dtype}.")
    if not _fits(array.shape, dims):
        flat = _flattened(array, dims, step)
        if flat is None:
            raise InputShapeError(f"Expected input of shape {describe(dims)}, got shape {list(array.shape)}.")
        array = flat
    return array


def _fits(shape, dims) -> bool:
    return len(shape) == len(dims) and all(size is None or have == size for have, (_, size) in zip(shape, dims))


def _flattened(array: np.ndarray, dims, step: int) -> np.ndarray | None:
    """``array`` reshaped to ``dims`` when it holds the last ``step`` axes flattened into one, else None."""
    lead = len(dims) - step
    sizes = [size for _, size in dims[lead:]]
    if step < 2 or array.ndim != lead + 1 or None in sizes or array.shape[-1] != int(np.prod(sizes)):
        return None
    shaped = array.reshape(*array.shape[:lead], *sizes)
    return shaped if _fits(shaped.shape, dims) else None


def to_float32(array: np.ndarray, binary: bool = False) -> np.ndarray:
    """A C-contiguous float32 version of a checked ``array``.

    Args:
        binary: the model takes spikes (int8 graphs, whose MatMuls cast the input to uint8):
            values must be whole numbers from 0 to ``SPIKE_LIMIT``, normally 0 or 1.

    Raises:
        InputValueError: NaN, Inf, a value beyond ±INPUT_LIMIT, or (``binary``) not a whole number in 0..SPIKE_LIMIT.
    """
    kind = array.dtype.kind
    if kind == "b" or (kind == "u" and array.dtype.itemsize == 1 and not binary):
        return np.ascontiguousarray(array, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        converted = np.ascontiguousarray(array, dtype=np.float32)
        if binary:
            if array.size and not (np.isfinite(converted).all() and converted.min() >= 0
                                   and converted.max() <= SPIKE_LIMIT and not (converted % 1).any()):
                raise InputValueError(f"This model takes spikes only (0 or 1; whole numbers up to {SPIKE_LIMIT} are "
                                      f"exact), got other values in input of shape {list(array.shape)}.")
            return converted
        largest = np.abs(converted).max(initial=0.0)
    if not largest <= INPUT_LIMIT:  # also catches NaN
        bad = int(np.count_nonzero(~(np.abs(converted) <= INPUT_LIMIT)))
        raise InputValueError(f"Expected finite values within ±{INPUT_LIMIT:g}, got {bad} NaN/Inf/out-of-range "
                              f"value(s) in input of shape {list(array.shape)} (checked as float32).")
    return converted


def describe(dims) -> str:
    return "[" + ", ".join(name if size is None else f"{name}={size}" for name, size in dims) + "]"


def copy_into(x, destination: np.ndarray, binary: bool = False) -> None:
    """Check ``x`` against ``destination``'s shape ([streams, *input shape]) and copy it in as float32.

    The common cases (a numpy array of the right shape: spikes as bool/uint8, or float32
    values) take a few hundred nanoseconds: one copy and at most two reductions. Anything
    else goes through :func:`check` and :func:`to_float32`, which name what is wrong. A
    rejected ``x`` may have been copied, but ``destination`` is only an input buffer.

    Raises:
        InputDTypeError, InputShapeError, InputValueError: as :func:`check` and :func:`to_float32`.
    """
    if type(x) is not np.ndarray or x.shape != destination.shape or x.dtype.kind not in "biuf":
        named = (("streams", destination.shape[0]), *dims(destination.shape[1:]))
        np.copyto(destination, to_float32(check(x, named, destination.ndim - 1), binary))
        return
    dtype = x.dtype
    kind = dtype.kind
    if kind == "f" and dtype.itemsize > 4:  # float64 beyond float32's range becomes Inf: caught below
        with np.errstate(over="ignore", invalid="ignore"):
            np.copyto(destination, x, casting="unsafe")
    else:
        np.copyto(destination, x, casting="unsafe")
    if kind == "b" or (kind == "u" and dtype.itemsize == 1 and not binary):  # always valid and in bounds
        return
    if binary:  # whole numbers 0..SPIKE_LIMIT are exact in an int8 graph on every CPU; check the others
        if destination.max() > SPIKE_LIMIT or destination.min() < 0 or (kind == "f" and (destination % 1).any()):
            to_float32(x, binary=True)  # raises, naming the problem
        return
    if kind == "f" or dtype.itemsize > 2:  # 8/16-bit integers are always within bounds
        flat = destination.reshape(-1)
        # One dot product: NaN and Inf propagate, and a sum of squares within LIMIT**2 bounds every value.
        if not float(np.dot(flat, flat)) <= _SQUARED_LIMIT:
            to_float32(np.asarray(x), binary=False)  # raises, naming the problem (or passes: large but in bounds)
