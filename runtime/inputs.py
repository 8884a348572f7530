"""Checking input arrays before anything runs, so that a rejected call changes nothing.

Spikes may come as bool or integer arrays, values as any real float. Finiteness is
checked after conversion to float32, since a float64 of 1e39 becomes Inf there.
Messages are built only on failure: these checks run on every step.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputDTypeError, InputShapeError, InputValueError


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
    except ValueError as e:  # ragged nested lists
        raise InputShapeError(f"Expected input of shape {_describe(dims)}, got a ragged sequence ({e}).") from None
    if array.dtype.kind not in "biuf":
        raise InputDTypeError(f"Expected spikes (bool/int) or real values (float) of shape {_describe(dims)}, "
                              f"got dtype {array.dtype}.")
    if array.ndim != len(dims) or any(size is not None and have != size for have, (_, size) in zip(array.shape, dims)):
        raise InputShapeError(f"Expected input of shape {_describe(dims)}, got shape {list(array.shape)}.")
    return array


def to_float32(array: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 version of a checked ``array``.

    Raises:
        InputValueError: NaN or Inf (also values beyond float32's range).
    """
    if array.dtype.kind != "f":
        return np.ascontiguousarray(array, dtype=np.float32)
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(converted)
    if not finite.all():
        raise InputValueError(f"Expected finite values, got {int(finite.size - finite.sum())} NaN/Inf value(s) "
                              f"in input of shape {list(array.shape)} (checked as float32).")
    return converted


def _describe(dims) -> str:
    return "[" + ", ".join(name if size is None else f"{name}={size}" for name, size in dims) + "]"
