"""Root command group: the error contract, quiet libraries, logging, and command registration.

Errors (one table, :data:`EXIT_CODES`, for every command): a
:class:`~snudeploy.errors.SnudeployError` (bad input, a failed validation, an unwritable
output) and a usage error print one line on stderr and exit 2; Ctrl-C exits 130; anything
else is a bug and exits 1 (``SNUDEPLOY_DEBUG=1`` shows the traceback and the libraries'
own log lines). Commands import TensorFlow only in their bodies, so ``--help`` is instant.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import warnings

import click

from .. import __version__, interrupts
from ..errors import SnudeployError

EXIT_CODES = (  # first match wins
    (SnudeployError, 2),
    (click.UsageError, 2),
    (click.ClickException, 2),
    (KeyboardInterrupt, 130),
    (click.Abort, 130),
    (Exception, 1),
)


def exit_code(error: BaseException) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def debugging() -> bool:
    return bool(os.environ.get("SNUDEPLOY_DEBUG"))


def _quiet_libraries() -> None:
    """Silence TensorFlow's logs and Python warnings (before TensorFlow is imported)."""
    if debugging():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


@contextlib.contextmanager
def _native_stderr_silenced():
    """Drop what native libraries write to file descriptor 2 (absl/CUDA lines such as
    ``E0000 ... failed call to cuInit``, which TF_CPP_MIN_LOG_LEVEL does not reach), while
    Python's ``sys.stderr`` (our messages, progress) keeps writing to the terminal."""
    try:
        real = sys.stderr.fileno() == 2 and not debugging()
    except (AttributeError, OSError, ValueError):  # a captured stream (tests)
        real = False
    if not real:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding,
                           errors=python_stderr.errors)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr.close()
        sys.stderr = python_stderr


def _one_line(error: BaseException) -> str:
    if isinstance(error, click.ClickException):
        message = error.format_message()
        context = getattr(error, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if isinstance(error, click.UsageError) and context else ""
        text = message + hint
    elif isinstance(error, interrupts.AfterCommit):
        folders = sorted({str(path.parent) for path in error.written})
        text = (f"Interrupted after this run's outputs were written ({len(error.written)} file(s) in "
                f"{', '.join(folders)}); they are complete and consistent.")
    elif isinstance(error, (KeyboardInterrupt, click.Abort)):
        text = "Interrupted; outputs of this run were not written, earlier files are intact."
    elif isinstance(error, SnudeployError):
        text = str(error)
    else:
        text = f"Unexpected error ({type(error).__name__}: {error})  [SNUDEPLOY_DEBUG=1 shows the traceback]"
    return "Error: " + " ".join(text.split())


class _Group(click.Group):
    """Runs the command and applies :data:`EXIT_CODES` itself, so every failure is one stderr line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, process=False, **extra):
        """``process``: this is the whole process (the entry point), which may then exit at once on a late Ctrl-C."""
        _quiet_libraries()
        interrupts.install()
        try:
            with _native_stderr_silenced():
                _log_to_stderr()
                try:
                    result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                    code = result if isinstance(result, int) else 0
                except click.exceptions.Exit as e:
                    code = e.exit_code
                except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - the one place errors become exit codes
                    if debugging() and exit_code(e) == 1:
                        raise
                    click.echo(_one_line(e), err=True)
                    code = exit_code(e)
                if process:
                    _exit_at_once_on_interrupts()
        except KeyboardInterrupt:  # a second Ctrl-C while the first was being reported
            code = 130
        if process:
            _exit(code)
        sys.exit(code)


def _exit_at_once_on_interrupts() -> None:
    """From now on Ctrl-C or SIGTERM ends the process at once with exit code 130 (the command has ended)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda signum, frame: _exit(130))


def _exit(code: int) -> None:
    """End the process now, skipping the interpreter's teardown.

    The command has ended: its outputs are complete (or untouched) and every file and
    server it opened is closed. Tearing down TensorFlow and ONNX Runtime takes 1-2 s more,
    with Python's signal handlers already gone: a Ctrl-C then would end the process by the
    signal instead of with exit code 130.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)


def _log_to_stderr() -> None:
    logger = logging.getLogger("snudeploy")
    if not any(getattr(h, "_snudeploy_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._snudeploy_cli = True
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debugging() else logging.INFO)
    logger.propagate = False
    for handler in logger.handlers:  # CliRunner swaps sys.stderr per invocation
        if getattr(handler, "_snudeploy_cli", False):
            handler.setStream(sys.stderr)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snudeploy")
def cli():
    """Spiking Neural Unit networks: train in TensorFlow, export to ONNX, stream on ONNX Runtime.

    Typical flow: train -> export (and quantize) -> run / bench / serve. `snudeploy
    quickstart` does all of it on the offline digits data. Errors are one line on stderr
    with exit code 2; SNUDEPLOY_DEBUG=1 shows tracebacks and library logs.
    """


def _register():
    from .bench import bench
    from .export import export
    from .import_nir import import_nir
    from .inspect_cmd import inspect
    from .quantize import quantize
    from .quickstart import quickstart
    from .run import run
    from .serve import serve
    from .train import train

    for command in (quickstart, train, quantize, export, import_nir, inspect, run, bench, serve):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli.main(process=True)


if __name__ == "__main__":  # pragma: no cover
    main()
