"""Datasets as arrays in [0, 1] with integer labels.

``load(name, data=None)`` returns ``(x_train, y_train, x_test, y_test)``; images keep
their 2-D shape (the encoder flattens them). Available offline:

* ``digits`` - scikit-learn's bundled 8x8 handwritten digits (1,797 images). There is
  no official split: we use a stratified 80/20 split with seed 0 (1,437 train / 360 test),
  shipped in the package (``data/digits.npz``, 30 KB) so the base install reads it
  without scikit-learn; a test checks it against scikit-learn's own split.
* ``fashion-mnist`` - Debian's ``dataset-fashion-mnist`` IDX files (or the folder named by
  ``$SNUDEPLOY_FASHION_MNIST``, which replaces Debian's), a folder given with ``data``, or
  Keras' downloader when online.
* ``mnist`` - a file/folder given with ``data`` (``.npz`` with x_train/y_train/x_test/
  y_test, or an IDX folder), else Keras' downloader/cache. Offline, a clear error.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .extras import installed

NAMES = ("digits", "fashion-mnist", "mnist")
DIGITS_FILE = Path(__file__).parent / "data" / "digits.npz"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_VARIABLE = "SNUDEPLOY_FASHION_MNIST"  # a folder in place of Debian's (an empty one: "not installed")
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load(name: str, data: str | os.PathLike | None = None):
    """Load dataset ``name`` as ``(x_train, y_train, x_test, y_test)``.

    Images are float32 in [0, 1]; labels are int64. ``data`` points at a local ``.npz``
    file or IDX folder and takes precedence over any built-in source.
    """
    if name not in NAMES:
        raise DatasetError(f"Unknown dataset {name!r}; choose one of {', '.join(NAMES)}.")
    if data is not None:
        return _scale(*_load_path(Path(data)))
    if name == "digits":
        return _scale(*_load_path(DIGITS_FILE), maximum=16.0)
    if name == "fashion-mnist" and (folder := fashion_mnist_folder()):
        return _scale(*_load_idx_folder(folder))
    return _scale(*_load_keras(name))


def fashion_mnist_folder() -> Path | None:
    """The local Fashion-MNIST IDX folder, if it holds all four files: ``$SNUDEPLOY_FASHION_MNIST``, else Debian's."""
    folder = Path(os.environ.get(FASHION_MNIST_VARIABLE) or DEBIAN_FASHION_MNIST)
    return folder if None not in _idx_files(folder) else None


def num_classes(y) -> int:
    return int(np.max(y)) + 1


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"Cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number).")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)) * dtype.itemsize:
        raise DatasetError(f"{path} is truncated: header says {shape}, got {len(body)} bytes.")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _load_path(path: Path):
    if path.is_dir():
        return _load_idx_folder(path)
    if path.suffix == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                return tuple(f[key] for key in ("x_train", "y_train", "x_test", "y_test"))
        except KeyError as e:
            raise DatasetError(f"{path} lacks array {e}; expected x_train, y_train, x_test, y_test.") from None
        except (OSError, ValueError) as e:
            raise DatasetError(f"Cannot read {path}: {e}") from None
    raise DatasetError(f"--data {path} is neither an IDX folder nor an .npz file.")


def _idx_files(folder: Path) -> list[Path | None]:
    """Each of the four IDX files in ``folder`` (plain or gzipped, ``-idx`` or ``.idx``), None where absent."""
    found = []
    for stem in _IDX_FILES.values():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        candidates += [folder / stem.replace("-idx", ".idx"), folder / f"{stem.replace('-idx', '.idx')}.gz"]
        found.append(next((p for p in candidates if p.is_file()), None))
    return found


def _load_idx_folder(folder: Path):
    files = _idx_files(folder)
    for stem, path in zip(_IDX_FILES.values(), files):
        if path is None:
            raise DatasetError(f"IDX folder {folder} lacks {stem}[.gz].")
    return tuple(read_idx(path) for path in files)


def digits_from_sklearn():
    """The digits split made from scikit-learn's copy (how ``data/digits.npz`` was made): uint8 0-16."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(bunch.images.astype(np.uint8), bunch.target.astype(np.int64),
                                                        test_size=0.2, random_state=0, stratify=bunch.target)
    return x_train, y_train, x_test, y_test


def _load_keras(name: str):
    offline = "digits" if name == "fashion-mnist" else "digits or fashion-mnist (with Debian's dataset-fashion-mnist)"
    if not installed("tensorflow"):
        hint = "install Debian's dataset-fashion-mnist, " if name == "fashion-mnist" else ""
        raise DatasetError(f"{name} is not on this machine and downloading it needs TensorFlow (pip install "
                           f"'.[train]'). Alternatives: {hint}pass --data PATH (an .npz file or IDX folder), "
                           f"or use --dataset {offline}.")
    import tensorflow as tf
    loader = tf.keras.datasets.mnist if name == "mnist" else tf.keras.datasets.fashion_mnist
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as e:  # Keras raises bare Exception / URLError when offline
        hint = ("install Debian's dataset-fashion-mnist, " if name == "fashion-mnist" else "")
        raise DatasetError(
            f"Cannot download {name} ({type(e).__name__}); you look offline. Alternatives: {hint}"
            "pass --data PATH (an .npz with x_train/y_train/x_test/y_test or an IDX folder), "
            f"or use --dataset {offline}, which work(s) offline.") from None
    return _scale(x_train, y_train, x_test, y_test)


def _scale(x_train, y_train, x_test, y_test, maximum: float = 255.0):
    def images(x):
        x = np.asarray(x)
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(maximum)
        x = x.astype(np.float32)
        return x / np.float32(255.0) if x.max(initial=0) > 1 else x
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DatasetError("Images and labels differ in count.")
    return images(x_train), np.asarray(y_train, np.int64), images(x_test), np.asarray(y_test, np.int64)
