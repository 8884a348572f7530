"""Checking input arrays before anything runs, so that a rejected call changes nothing.

Spikes may come as bool or integer arrays, values as any real float. Values must be
finite and within ``±INPUT_LIMIT`` after conversion to float32 (a float64 of 1e39 becomes
Inf there): SNU inputs are spikes or values in [0, 1], and a bound keeps every membrane
state finite. Messages are built only on failure: these checks run on every step.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputDTypeError, InputShapeError, InputValueError

INPUT_LIMIT = 1e6


def check(x, dims: tuple[tuple[str, int | None], ...]) -> np.ndarray:
    """Return ``x`` as an array after checking its dtype and shape.

    Args:
        x: the caller's array (or nested lists).
        dims: the wanted shape as (axis name, size) pairs; size None accepts any size.

    Raises:
        InputDTypeError: non-numeric values (object, string, complex, ...).
        InputShapeError: wrong rank or size.
    """
    try:
        array = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise InputShapeError(f"Expected input of shape {_describe(dims)}, got a ragged sequence ({e}).") from None
    if array.dtype.kind not in "biuf":
        raise InputDTypeError(f"Expected spikes (bool/int) or real values (float) of shape {_describe(dims)}, "
                              f"got dtype {array.dtype}.")
    if array.ndim != len(dims) or any(size is not None and have != size for have, (_, size) in zip(array.shape, dims)):
        raise InputShapeError(f"Expected input of shape {_describe(dims)}, got shape {list(array.shape)}.")
    return array


def to_float32(array: np.ndarray, binary: bool = False) -> np.ndarray:
    """A C-contiguous float32 version of a checked ``array``.

    Args:
        binary: the model takes spikes only (int8 graphs): values must be 0 or 1.

    Raises:
        InputValueError: NaN, Inf, a value beyond ±INPUT_LIMIT, or (``binary``) not 0/1.
    """
    kind = array.dtype.kind
    if kind == "b" or (kind == "u" and array.dtype.itemsize == 1 and not binary):
        return np.ascontiguousarray(array, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        converted = np.ascontiguousarray(array, dtype=np.float32)
        if binary:
            if array.size and ((converted != 0) & (converted != 1)).any():
                raise InputValueError(f"This model takes spikes only (values 0 or 1), got other values in input of "
                                      f"shape {list(array.shape)}.")
            return converted
        largest = np.abs(converted).max(initial=0.0)
    if not largest <= INPUT_LIMIT:  # also catches NaN
        bad = int(np.count_nonzero(~(np.abs(converted) <= INPUT_LIMIT)))
        raise InputValueError(f"Expected finite values within ±{INPUT_LIMIT:g}, got {bad} NaN/Inf/out-of-range "
                              f"value(s) in input of shape {list(array.shape)} (checked as float32).")
    return converted


def _describe(dims) -> str:
    return "[" + ", ".join(name if size is None else f"{name}={size}" for name, size in dims) + "]"
