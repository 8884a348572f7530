"""Work that needs tf-keras (Keras 2) runs in a child Python process.

tensorflow-model-optimization (QAT) and ``MultiWorkerMirroredStrategy`` (distributed
training) work only with tf-keras, which TensorFlow picks only when
``TF_USE_LEGACY_KERAS=1`` is set before its first import. The parent may already have
imported Keras 3, so such work runs as ``python -m <module>`` with that variable set.

A typed error in the child travels back as JSON (``--error-file``): the parent raises the
same :mod:`snudeploy.errors` class with the same message, instead of parsing stderr. The
child's progress goes to the parent's stderr; TensorFlow's own log lines are dropped
unless ``SNUDEPLOY_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import errors

ERROR_FLAG = "--error-file"


def environment(extra: dict | None = None) -> dict:
    """The child's environment: tf-keras, quiet TensorFlow (unless debugging)."""
    debug = os.environ.get("SNUDEPLOY_DEBUG")
    return {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "0" if debug else "3",
            "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore"), **(extra or {})}


def run(module: str, args: list[str], what: str, env: dict | None = None) -> None:
    """Run ``python -m module args`` under tf-keras; raise its typed error if it fails."""
    try:
        progress = sys.stderr.fileno()  # the child's progress lines go straight to our stderr
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): relay them afterwards
        progress = subprocess.PIPE
    with tempfile.TemporaryDirectory(prefix="snudeploy-child-") as tmp:
        error_file = Path(tmp) / "error.json"
        sys.stderr.flush()
        process = subprocess.run([sys.executable, "-m", module, *args, ERROR_FLAG, str(error_file)],
                                 env=env or environment(), stdout=progress, stderr=subprocess.PIPE, text=True)
        if process.stdout:
            sys.stderr.write(process.stdout)
        raise_for(process.returncode, error_file, process.stderr, what)


def raise_for(returncode: int, error_file: Path, stderr: str, what: str) -> None:
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
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    if os.environ.get("SNUDEPLOY_DEBUG"):
        sys.stderr.write(stderr or "")
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
