"""Writing outputs so that a failure never destroys a good file.

* :func:`write_bytes` / :func:`write_text`: write a temporary file in the target's folder,
  flush it to disk, then ``os.replace`` it over the target. A full disk, an exception or
  Ctrl-C before the rename leaves the previous file as it was.
* :class:`Transaction`: several files of one output folder (a checkpoint, an export, a
  quantization) are staged first and renamed into place together at the end, with
  Ctrl-C/SIGTERM held back during the renames, so the folder holds the old set or the new one.
* :func:`check_writable`: checked before the expensive work starts (train, export, bench),
  so that an unwritable ``--out``/``--json``/``--plot`` is an error at once, not after an hour.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from . import interrupts
from .errors import OutputError


def write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return ``path``."""
    path = Path(path)
    _mkdir(path.parent)
    temporary = _stage(path, data)
    try:
        with interrupts.held():
            os.replace(temporary, path)
    except OSError as e:
        _remove(temporary)
        raise OutputError(f"Cannot write {path}: {e.strerror or e}") from None
    except KeyboardInterrupt:  # held over the rename, which happened
        raise interrupts.AfterCommit([path]) from None
    return path


def write_text(path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


class Transaction:
    """Files of one folder written all together or not at all.

    Files are written into a hidden staging folder inside the target folder (so the final
    renames stay on one file system), then renamed into place in the order they were
    named, with SIGINT/SIGTERM held back during the renames. An exception (or Ctrl-C)
    before the commit removes the staging folder and leaves the target folder as it was.

    Example::

        with Transaction(out) as files:
            files.write_bytes("step.onnx", data)
            model.save_weights(files.path("model.weights.h5"))  # tools that write files themselves
            files.write_text("validation.json", report)          # renamed last
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self._names: list[str] = []
        self._stage: Path | None = None

    def __enter__(self) -> "Transaction":
        _mkdir(self.folder)
        try:
            self._stage = Path(tempfile.mkdtemp(dir=self.folder, prefix=".snudeploy-staging-"))
        except OSError as e:
            raise OutputError(f"Cannot write into {self.folder}: {e.strerror or e}") from None
        return self

    def path(self, name: str) -> Path:
        """Where to write file ``name`` (a plain file name) so that the commit moves it into place."""
        if self._stage is None:
            raise RuntimeError("Use the Transaction as a context manager.")
        if Path(name).name != name:
            raise ValueError(f"Expected a plain file name, got {name!r}.")
        if name not in self._names:
            self._names.append(name)
        return self._stage / name

    def write_bytes(self, name: str, data: bytes) -> Path:
        staged = self.path(name)
        try:
            staged.write_bytes(data)
        except OSError as e:
            raise OutputError(f"Cannot write {self.folder / name}: {e.strerror or e}") from None
        return self.folder / name

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))

    def commit(self) -> list[Path]:
        written = [self.folder / name for name in self._names]
        try:
            for name in self._names:
                _fsync(self._stage / name)
            with interrupts.held():
                for name in self._names:
                    os.replace(self._stage / name, self.folder / name)
        except OSError as e:
            raise OutputError(f"Cannot write into {self.folder}: {e.strerror or e}") from None
        except KeyboardInterrupt:  # held over the renames, which all happened
            raise interrupts.AfterCommit(written) from None
        finally:
            self.abort()
        return written

    def abort(self) -> None:
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def check_writable(path, kind: str = "file") -> Path:
    """Raise :class:`OutputError` unless ``path`` (a ``"file"`` or ``"folder"``) can be written.

    Nothing is created: the nearest existing folder on the way gets a probe file, removed at once.
    """
    path = Path(path)
    if path.exists():
        if kind == "folder" and not path.is_dir():
            raise OutputError(f"{path} exists and is not a folder.")
        if kind == "file" and path.is_dir():
            raise OutputError(f"{path} is a folder; give a file name.")
    folder = path if kind == "folder" else path.parent
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"Cannot write {path}: {existing} is not a folder.")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".snudeploy-probe-"):
            pass
    except OSError as e:
        raise OutputError(f"Cannot write {path}: {existing} is not writable ({e.strerror or e}).") from None
    return path


def _stage(target: Path, data: bytes) -> Path:
    """Write ``data`` to a new temporary file beside ``target``, on disk; return its path."""
    try:
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"Cannot write {target}: {e.strerror or e}") from None
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(name, 0o644)
    except BaseException as e:
        _remove(Path(name))
        if isinstance(e, OSError):
            raise OutputError(f"Cannot write {target}: {e.strerror or e}") from None
        raise
    return Path(name)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"Cannot create folder {folder}: {e.strerror or e}") from None


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
