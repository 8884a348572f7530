"""Ctrl-C and SIGTERM while native code runs.

Python runs a signal handler only when the main thread is back in the interpreter, so
Ctrl-C cannot stop a call that is inside ONNX Runtime. :func:`install` (the CLI calls it)
makes the C-level handler write to a pipe that a helper thread reads; the thread calls every
registered stopper (the runtime registers one that stops its calls in flight), the native
call returns, and Python's ``KeyboardInterrupt`` follows. :func:`held` defers them over code
that must not be cut short (renames that commit outputs) or that would swallow them
(libraries with bare ``except:`` clauses).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable

_HELD = (signal.SIGINT, signal.SIGTERM)


class AfterCommit(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) that arrived while outputs were being committed: they were all written.

    Raised instead of a plain ``KeyboardInterrupt`` by code that holds the signal over a
    commit (:class:`snudeploy.files.Transaction`), so that what is reported is true.
    """

    def __init__(self, written: list):
        super().__init__(f"interrupted after writing {len(written)} file(s)")
        self.written = list(written)
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


@contextlib.contextmanager
def held():
    """Hold SIGINT/SIGTERM back while the block runs, then deliver them (main thread; elsewhere a no-op).

    Python handlers are swapped rather than the thread's signal mask: a process-directed signal
    may land on any thread, but Python always runs its handler in the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {number: signal.getsignal(number) for number in _HELD}
    for number in _HELD:
        signal.signal(number, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            signal.raise_signal(received[0])
