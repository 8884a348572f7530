"""Work that needs tf-keras (Keras 2) runs in a child Python process.

tensorflow-model-optimization (QAT) and ``MultiWorkerMirroredStrategy`` (distributed
training) work only with tf-keras, which TensorFlow picks only when
``TF_USE_LEGACY_KERAS=1`` is set before its first import. The parent may already have
imported Keras 3, so such work runs as ``python -m <module>`` with that variable set.

A typed error in the child travels back as JSON (``--error-file``): the parent raises the
same :mod:`snudeploy.errors` class with the same message, instead of parsing stderr. The
child's progress goes to the parent's stderr; TensorFlow's own log lines are dropped
unless ``SNUDEPLOY_DEBUG=1``. Several children can run at once (the workers of
``snudeploy train --workers N``): when one fails, the others are stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import errors

ERROR_FLAG = "--error-file"
POLL_SECONDS = 0.2  # how often run_all looks at its children


def environment(extra: dict | None = None) -> dict:
    """The child's environment: tf-keras, quiet TensorFlow (unless debugging)."""
    debug = os.environ.get("SNUDEPLOY_DEBUG")
    return {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "0" if debug else "3",
            "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore"), **(extra or {})}


@dataclass(frozen=True)
class Command:
    """One child: ``python -m module args`` with ``env`` (default :func:`environment`), called ``name`` in errors."""
    module: str
    args: list
    env: dict | None = None
    name: str = "the child process"


def run(module: str, args: list[str], what: str, env: dict | None = None) -> None:
    """Run ``python -m module args`` under tf-keras; raise its typed error if it fails."""
    run_all([Command(module, args, env)], what)


def run_all(commands: list[Command], what: str, on_start: Callable | None = None) -> None:
    """Run ``commands`` at once and wait for all; when one fails, stop the others and raise its error.

    ``on_start(command, process)`` is called as each starts. The children's progress (stdout)
    goes straight to our stderr, or is relayed afterwards when our stderr is captured (tests).
    """
    try:
        progress = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream: relay afterwards
        progress = None
    with tempfile.TemporaryDirectory(prefix="snudeploy-child-") as tmp:
        files = [{kind: Path(tmp) / f"{i}.{kind}" for kind in ("out", "err", "error")} for i in range(len(commands))]
        processes = []
        sys.stderr.flush()
        try:
            for command, paths in zip(commands, files):
                with open(paths["err"], "w") as err, open(paths["out"], "w") as out:
                    processes.append(subprocess.Popen(
                        [sys.executable, "-m", command.module, *command.args, ERROR_FLAG, str(paths["error"])],
                        env=command.env or environment(), stdout=out if progress is None else progress, stderr=err))
                if on_start:
                    on_start(command, processes[-1])
            failed = _wait(processes)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
                    process.wait()
            if progress is None:
                for paths in files:
                    sys.stderr.write(paths["out"].read_text() if paths["out"].is_file() else "")
        if failed is not None:
            paths = files[failed]
            raise_for(processes[failed].returncode, paths["error"], paths["err"].read_text(), what,
                      commands[failed].name)


def _wait(processes: list[subprocess.Popen]) -> int | None:
    """Wait until every process has exited (None) or one has failed (its index)."""
    while True:
        codes = [process.poll() for process in processes]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            return failed[0]
        if all(code == 0 for code in codes):
            return None
        time.sleep(POLL_SECONDS)


def raise_for(returncode: int, error_file: Path, stderr: str, what: str, name: str = "the child process") -> None:
    """Raise the child's error (or a generic one) when ``returncode`` is not 0."""
    if returncode == 0:
        return
    if error_file.is_file():
        try:
            report = json.loads(error_file.read_text())
        except (OSError, json.JSONDecodeError):
            report = {}
        kind = getattr(errors, str(report.get("type")), None)
        if isinstance(kind, type) and issubclass(kind, errors.SnudeployError) and report.get("message"):
            raise kind(report["message"])
    if os.environ.get("SNUDEPLOY_DEBUG"):
        sys.stderr.write(stderr or "")
    if returncode < 0:
        raise errors.SnudeployError(f"{what} failed: {name} was killed by signal {-returncode}.")
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    raise errors.SnudeployError(f"{what} failed (exit {returncode}): {lines[-1] if lines else 'no message'}")


def main(work: Callable[[list[str]], None], argv: list[str] | None = None) -> int:
    """The child's entry point: run ``work(argv)``, report a typed error through ``--error-file``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    error_file = None
    if ERROR_FLAG in argv:
        at = argv.index(ERROR_FLAG)
        error_file = argv[at + 1]
        del argv[at:at + 2]
    try:
        work(argv)
    except errors.SnudeployError as e:
        if error_file:
            Path(error_file).write_text(json.dumps({"type": type(e).__name__, "message": str(e)}))
        print(f"Error: {e}", file=sys.stderr)
        return 2
    return 0
