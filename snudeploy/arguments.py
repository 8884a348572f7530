"""Checking arguments in one place, with one message style, and the size limits.

Messages follow Keras: ``"Received an invalid value for argument `units`, expected a
positive integer, got 0."``. Booleans are refused where integers are expected (``True`` is
an ``int`` in Python). The limits bound every size a caller can ask for, so that a typo
(``--batch 1000000000``) is an error instead of minutes of allocation.
"""

from __future__ import annotations

import math
import numbers

from .errors import ConfigurationError

# Upper bounds of sizes (see docs/security.md): far above any real use, far below harm.
LIMITS = {
    "streams": 1 << 20,        # open streams of one StreamingSession
    "batch": 1 << 16,          # streams or sequences per call
    "threads": 256,            # ONNX Runtime intra-op threads
    "timesteps": 1 << 16,      # T of a sequence
    "units": 1 << 16,          # units of one layer
    "features": 1 << 20,       # input features
    "layers": 64,              # layers of a network
    "samples": 10_000_000,     # samples of a dataset slice
    "parameters": 1 << 28,     # weights of a network (1 GiB as float32)
}


def integer(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; :class:`ConfigurationError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigurationError(_message(name, _expected_int(minimum, maximum), value))
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigurationError(_message(name, _expected_int(minimum, maximum), value))
    return int(value)


def limited(value, name: str, limit: str, minimum: int = 1) -> int:
    """:func:`integer` bounded by ``LIMITS[limit]``."""
    return integer(value, name, minimum, LIMITS[limit])


def optional_integer(value, name: str, minimum: int = 1, maximum: int | None = None) -> int | None:
    return None if value is None else integer(value, name, minimum, maximum)


def number(value, name: str, minimum: float | None = None, maximum: float | None = None,
           min_open: bool = False) -> float:
    """``value`` as a finite float in the given range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ConfigurationError(_message(name, _expected_range(minimum, maximum, min_open), value))
    value = float(value)
    below = minimum is not None and (value <= minimum if min_open else value < minimum)
    if below or (maximum is not None and value > maximum):
        raise ConfigurationError(_message(name, _expected_range(minimum, maximum, min_open), value))
    return value


def choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigurationError(_message(name, f"one of {', '.join(choices)}", value))
    return value


def _message(name: str, expected: str, value) -> str:
    return f"Received an invalid value for argument `{name}`, expected {expected}, got {value!r}."


def _expected_int(minimum: int, maximum: int | None) -> str:
    kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
    return kind + (f" up to {maximum:,}" if maximum is not None else "")


def _expected_range(minimum, maximum, min_open: bool) -> str:
    if minimum is not None and maximum is not None:
        return f"a number in {'(' if min_open else '['}{minimum:g}, {maximum:g}]"
    if minimum is not None:
        return f"a number {'>' if min_open else '>='} {minimum:g}"
    if maximum is not None:
        return f"a number <= {maximum:g}"
    return "a finite number"
