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

Sequences (:func:`load_data` returns them with their lengths; raw values, not scaled):

* ``japanese-vowels`` - 12 LPC cepstrum coefficients per step of spoken vowels by 9
  speakers (270 train / 370 test, 7-29 steps), and ``basic-motions`` - 6-axis accelerometer
  and gyroscope, 4 activities (40 / 40, 100 steps): read offline from the ``sktime`` wheel
  with sktime's own loaders (the ``[data]`` extra);
* your own: an ``.npz`` with ``x_train``/``x_test`` ``[N, T, F]`` (float values, or uint8
  spikes), ``y_train``/``y_test`` and optional ``lengths_train``/``lengths_test`` ``[N]``
  (steps past a sequence's length are ignored). An ``.npz`` is read as sequences when it has
  lengths or when the model's encoder takes sequences (``delta``, ``direct``, ``spikes``).
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .extras import installed, require

IMAGE_NAMES = ("digits", "fashion-mnist", "mnist")
SEQUENCE_NAMES = ("japanese-vowels", "basic-motions")
NAMES = IMAGE_NAMES + SEQUENCE_NAMES
_SKTIME_LOADERS = {"japanese-vowels": "load_japanese_vowels", "basic-motions": "load_basic_motions"}
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


@dataclass(frozen=True)
class Data:
    """A dataset's two splits. Sequences: ``x`` [N, T, F] padded with zeros past ``lengths`` [N]
    (None: every sequence is T long); images: ``x`` [N, ...] in [0, 1], ``lengths`` None."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    lengths_train: np.ndarray | None = None
    lengths_test: np.ndarray | None = None
    sequences: bool = False

    @property
    def arrays(self) -> tuple:
        return self.x_train, self.y_train, self.x_test, self.y_test


def is_sequences(name: str | None) -> bool:
    return name in SEQUENCE_NAMES


def load(name: str, data: str | os.PathLike | None = None):
    """Load dataset ``name`` as ``(x_train, y_train, x_test, y_test)``.

    Images are float32 in [0, 1]; labels are int64. ``data`` points at a local ``.npz``
    file or IDX folder and takes precedence over any built-in source. Sequences come as
    padded ``[N, T, F]`` raw values (their lengths: :func:`load_data`).
    """
    return load_data(name, data).arrays


def load_data(name: str | None, data: str | os.PathLike | None = None, sequences: bool = False) -> Data:
    """Load dataset ``name`` (or the ``.npz`` / IDX folder ``data``) as :class:`Data`.

    ``sequences``: read ``data`` as sequences even without lengths (the model's encoder takes them).
    """
    if name is None and data is None:
        raise DatasetError(f"Name a dataset ({', '.join(NAMES)}) or give --data.")
    if name is not None and name not in NAMES:
        raise DatasetError(f"Unknown dataset {name!r}; choose one of {', '.join(NAMES)}.")
    if data is not None and Path(data).suffix == ".npz" and Path(data).is_file():
        found = _read_npz(Path(data))
        if sequences or is_sequences(name) or "lengths_train" in found or "lengths_test" in found:
            return _sequences(found, Path(data))
        return Data(*_scale(*(found[k] for k in ("x_train", "y_train", "x_test", "y_test"))))
    if is_sequences(name) and data is None:
        return _load_sktime(name)
    return Data(*_load_images(name, data))


def _load_images(name: str, data):
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
        found = _read_npz(path)
        return tuple(found[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    raise DatasetError(f"--data {path} is neither an IDX folder nor an .npz file.")


def _read_npz(path: Path) -> dict:
    """The arrays of an ``.npz`` (x_train, y_train, x_test, y_test and optional lengths), no pickles."""
    try:
        with np.load(path, allow_pickle=False) as f:
            found = {key: f[key] for key in ("x_train", "y_train", "x_test", "y_test")}
            found.update({key: f[key] for key in ("lengths_train", "lengths_test") if key in f.files})
            return found
    except KeyError as e:
        raise DatasetError(f"{path} lacks array {e}; expected x_train, y_train, x_test, y_test.") from None
    except (OSError, ValueError) as e:
        raise DatasetError(f"Cannot read {path}: {e}") from None


def _sequences(found: dict, source) -> Data:
    """Checked sequences [N, T, F] (float32 values, or uint8 spikes) with labels and lengths."""
    splits = []
    for split in ("train", "test"):
        x, y, lengths = found[f"x_{split}"], np.asarray(found[f"y_{split}"]), found.get(f"lengths_{split}")
        if x.ndim != 3 or x.dtype.kind not in "biuf" or not all(x.shape):
            raise DatasetError(f"{source}: x_{split} must be numbers of shape [N, T, F], got {x.dtype} "
                               f"{list(x.shape)}.")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise DatasetError(f"{source}: x_{split} holds NaN or Inf values.")
        if y.shape != (len(x),) or y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
            raise DatasetError(f"{source}: y_{split} must be {len(x)} non-negative integer labels, got {y.dtype} "
                               f"{list(y.shape)}.")
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (len(x),) or lengths.dtype.kind not in "iu" or \
                    (len(lengths) and (lengths.min() < 1 or lengths.max() > x.shape[1])):
                raise DatasetError(f"{source}: lengths_{split} must be {len(x)} integers from 1 to T = {x.shape[1]}.")
            lengths = lengths.astype(np.int64)
        values = x.astype(np.uint8) if x.dtype.kind in "bu" and x.max(initial=0) <= 1 else x.astype(np.float32)
        splits.append((values, y.astype(np.int64), lengths))
    (x_train, y_train, l_train), (x_test, y_test, l_test) = splits
    if x_train.shape[2] != x_test.shape[2]:
        raise DatasetError(f"{source}: train and test sequences differ in features per step "
                           f"({x_train.shape[2]} and {x_test.shape[2]}).")
    return Data(x_train, y_train, x_test, y_test, l_train, l_test, sequences=True)


def _load_sktime(name: str) -> Data:
    """A time-series set from sktime's wheel, with sktime's own loader (offline)."""
    require("data", f"--dataset {name}")
    import sktime.datasets

    loader = getattr(sktime.datasets, _SKTIME_LOADERS[name])
    splits = [loader(split=split, return_type="nested_univ") for split in ("train", "test")]
    classes = sorted(set(splits[0][1]))
    found = {}
    for split, (frame, labels) in zip(("train", "test"), splits):
        series = [[np.asarray(frame.iloc[n, c], np.float32) for c in range(frame.shape[1])] for n in range(len(frame))]
        lengths = np.array([len(channels[0]) for channels in series], np.int64)
        x = np.zeros((len(series), int(lengths.max()), frame.shape[1]), np.float32)
        for n, channels in enumerate(series):
            x[n, :lengths[n]] = np.stack(channels, axis=1)
        found.update({f"x_{split}": x, f"y_{split}": np.array([classes.index(v) for v in labels], np.int64),
                      f"lengths_{split}": lengths})
    data = _sequences(found, name)
    if (data.lengths_train == data.x_train.shape[1]).all() and (data.lengths_test == data.x_test.shape[1]).all():
        data = Data(*data.arrays, sequences=True)  # every sequence is T long: no masks needed
    return data


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
