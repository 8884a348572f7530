import gzip
import struct

import numpy as np
import pytest
from needs import need

from snudeploy import datasets
from snudeploy.errors import DatasetError


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    for key, stem in datasets._IDX_FILES.items():
        n = 30 if "train" in key else 10
        array = rng.integers(0, 256, (n, 5, 5)) if key.startswith("x") else rng.integers(0, 3, n)
        _write_idx(tmp_path / (stem + (".gz" if key == "x_train" else "")), array)
    return tmp_path


def test_idx_folder_and_scaling(idx_folder):
    x_train, y_train, x_test, y_test = datasets.load("mnist", idx_folder)
    assert x_train.shape == (30, 5, 5) and x_test.shape == (10, 5, 5)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() <= 1
    assert y_train.dtype == np.int64


def test_fashion_mnist_folder_can_be_named_by_the_environment(idx_folder, tmp_path_factory, monkeypatch):
    monkeypatch.setenv(datasets.FASHION_MNIST_VARIABLE, str(idx_folder))
    assert datasets.fashion_mnist_folder() == idx_folder
    assert datasets.load("fashion-mnist")[0].shape == (30, 5, 5)
    (idx_folder / "t10k-labels-idx1-ubyte").unlink()  # an incomplete folder is no data set
    assert datasets.fashion_mnist_folder() is None
    monkeypatch.setenv(datasets.FASHION_MNIST_VARIABLE, str(tmp_path_factory.mktemp("empty")))
    assert datasets.fashion_mnist_folder() is None


def test_npz(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=rng.integers(0, 256, (6, 4, 4), dtype=np.uint8), y_train=np.arange(6),
             x_test=rng.integers(0, 256, (2, 4, 4), dtype=np.uint8), y_test=np.arange(2))
    x_train, y_train, _, _ = datasets.load("mnist", path)
    assert x_train.shape == (6, 4, 4) and x_train.max() <= 1 and list(y_train) == list(range(6))


def test_corrupt_idx_and_missing_keys(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 10, 28, 28) + b"\x00" * 5)
    with pytest.raises(DatasetError, match="truncated"):
        datasets.read_idx(bad)
    (tmp_path / "junk.bin").write_bytes(b"hello world")
    with pytest.raises(DatasetError, match="not an IDX"):
        datasets.read_idx(tmp_path / "junk.bin")
    npz = tmp_path / "partial.npz"
    np.savez(npz, x_train=np.zeros((1, 2)))
    with pytest.raises(DatasetError, match="lacks"):
        datasets.load("mnist", npz)


def test_unknown_name():
    with pytest.raises(DatasetError, match="choose one of"):
        datasets.load("cifar")


def test_digits_split_ships_with_the_package():
    x_train, y_train, x_test, y_test = datasets.load("digits")
    assert (len(x_train), len(x_test)) == (1437, 360) and x_train.shape[1:] == (8, 8)
    assert x_train.max() == 1.0 and set(y_test) == set(range(10))


def test_shipped_digits_split_is_scikit_learns():
    need("train")
    shipped = datasets.load("digits")
    made = datasets.digits_from_sklearn()
    for ours, theirs in zip(shipped, made):
        np.testing.assert_array_equal(ours, theirs / 16.0 if theirs.dtype == np.uint8 else theirs)


@pytest.mark.slow
def test_fashion_mnist_debian_files():
    need("fashion-mnist")
    x_train, y_train, x_test, y_test = datasets.load("fashion-mnist")
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_test).tolist() == [1000] * 10


@pytest.mark.train
def test_mnist_offline_error_names_alternatives(monkeypatch):
    need("train")
    import tensorflow as tf

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: network unreachable")

    monkeypatch.setattr(tf.keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DatasetError, match="--data PATH") as info:
        datasets.load("mnist")
    assert "offline" in str(info.value) and "digits" in str(info.value)


def test_fashion_mnist_offline_error_does_not_suggest_itself(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.FASHION_MNIST_VARIABLE, str(tmp_path))  # an empty folder: "not installed"
    monkeypatch.setattr(datasets, "installed", lambda module: False)
    with pytest.raises(DatasetError) as info:
        datasets.load("fashion-mnist")
    message = str(info.value)
    assert "dataset-fashion-mnist" in message and "--dataset digits" in message
    assert "--dataset digits or fashion-mnist" not in message
