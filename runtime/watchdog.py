"""A time limit per ONNX Runtime call: one helper thread sets ``RunOptions.terminate``.

ONNX Runtime checks the flag between kernels (inside ``Loop`` bodies too) and then fails
the call; :class:`~snudeploy.runtime.engine.Engine` turns that failure into a
:class:`~snudeploy.errors.RunTimeoutError`. One daemon thread serves every session of the
process; it sleeps until the earliest deadline of the calls in flight.

It also stops every call in flight when :mod:`snudeploy.interrupts` relays a Ctrl-C, which
could otherwise not interrupt a call inside ONNX Runtime.
"""

from __future__ import annotations

import itertools
import threading
import time

import onnxruntime as ort

from .. import interrupts

_condition = threading.Condition()
_calls: dict[int, tuple[float, ort.RunOptions]] = {}
_fired: set[int] = set()
_tokens = itertools.count()
_thread: threading.Thread | None = None


def begin(seconds: float, severity: int) -> tuple[int, ort.RunOptions]:
    """Register a call that must end within ``seconds``; return its token and RunOptions."""
    global _thread
    options = ort.RunOptions()
    options.log_severity_level = severity
    token = next(_tokens)
    with _condition:
        _calls[token] = (time.monotonic() + seconds, options)
        if _thread is None:
            _thread = threading.Thread(target=_watch, name="snudeploy-watchdog", daemon=True)
            _thread.start()
            interrupts.register(stop_all)
        _condition.notify()
    return token, options


def end(token: int) -> bool:
    """Unregister a call; True when the watchdog stopped it for running too long."""
    with _condition:
        _calls.pop(token, None)
        fired = token in _fired
        _fired.discard(token)
    return fired


def stop_all() -> None:
    """Stop every call in flight (Ctrl-C; see :mod:`snudeploy.interrupts`)."""
    with _condition:
        for _, options in _calls.values():
            options.terminate = True


def _watch() -> None:
    with _condition:
        while True:
            if not _calls:
                _condition.wait()
                continue
            now = time.monotonic()
            for token, (deadline, options) in list(_calls.items()):
                if deadline <= now:
                    options.terminate = True
                    _fired.add(token)
                    del _calls[token]
            if _calls:
                _condition.wait(max(0.0, min(d for d, _ in _calls.values()) - now))
