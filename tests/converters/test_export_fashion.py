"""Real data: a small Fashion-MNIST SNU (784 -> 64 -> 32 -> 10) exports in every format and
passes the gates on 200 encoded test images (Debian's dataset-fashion-mnist IDX files)."""

import pytest
from needs import need

pytestmark = [pytest.mark.train, pytest.mark.slow]


def test_all_formats_pass_on_fashion_mnist(tmp_path):
    need("fashion-mnist")
    from snudeploy import datasets
    from snudeploy.converters import export_files
    from snudeploy.encoding import Encoding
    from snudeploy.spec import ModelSpec, Recipe
    from snudeploy.training import train_checkpoint

    x_train, y_train, x_test, y_test = datasets.load("fashion-mnist")
    data = (x_train[:1500], y_train[:1500], x_test[:200], y_test[:200])
    spec = ModelSpec.dense(784, 10, hidden=(64, 32), dataset="fashion-mnist",
                     encoding=Encoding(timesteps=20, max_spikes=6.0, seed=0),
                     recipe=Recipe(epochs=1, batch_size=15, optimizer="adam", lr=3e-3))
    ckpt = tmp_path / "ckpt"
    train_checkpoint(spec, data, ckpt, verbose=0)
    files = export_files(ckpt, "all", tmp_path / "onnx", samples=200, force=True)
    assert len(files) == 5
    for f in files:
        v = f.validation
        assert v["passed"], (f.path.name, v["failures"])
        assert v["samples"] == 200 and v["dataset"] == "fashion-mnist"
        assert v["onnx_accuracy"] == v["tf_accuracy"] > 0.4  # a real, if briefly trained, classifier
