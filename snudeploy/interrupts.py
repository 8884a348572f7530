"""Ctrl-C and SIGTERM while native code runs.

Python runs a signal handler only when the main thread is back in the interpreter, so
Ctrl-C cannot stop a call that is inside ONNX Runtime. :func:`install` (the CLI calls it)
makes the C-level handler write to a pipe that a helper thread reads; the thread calls every
registered stopper (the runtime registers one that stops its calls in flight), the native
call returns, and Python's ``KeyboardInterrupt`` follows.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

_stoppers: list[Callable[[], None]] = []
_reader: threading.Thread | None = None


def register(stopper: Callable[[], None]) -> None:
    """Call ``stopper()`` (from a helper thread) whenever SIGINT or SIGTERM arrives."""
    if stopper not in _stoppers:
        _stoppers.append(stopper)


def install() -> None:
    """Turn the bridge on (main thread only; idempotent). SIGTERM then interrupts like Ctrl-C."""
    global _reader
    if _reader is not None or threading.current_thread() is not threading.main_thread():
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    _reader = threading.Thread(target=_relay, args=(read_end,), name="snudeploy-signals", daemon=True)
    _reader.start()


def _relay(read_end: int) -> None:
    while os.read(read_end, 64):
        for stopper in list(_stoppers):
            stopper()
