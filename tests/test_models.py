"""Every shipped reference model loads with the runtime alone and reproduces its card's accuracy."""

import re
from pathlib import Path

import numpy as np
import pytest

from snudeploy import datasets
from snudeploy.runtime import StreamingSession
from snudeploy.runtime.evaluate import encode_test_split

MODELS = Path(__file__).resolve().parents[1] / "models"
FOLDERS = sorted(p for p in MODELS.iterdir() if p.is_dir())
ROW = re.compile(r"^\| `(?P<file>[\w.]+\.onnx)` \|.*\| (?P<accuracy>\d+\.\d+) % \|$", re.M)


def card_accuracies(folder: Path) -> dict:
    """``{file: accuracy in %}`` from the rows of the folder's CARD.md table."""
    return {m["file"]: float(m["accuracy"]) for m in ROW.finditer((folder / "CARD.md").read_text())}


def test_there_are_reference_models():
    assert {p.name for p in FOLDERS} >= {"digits-snu", "fashion-mnist-snu"}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_card_covers_every_file(folder):
    files = {p.name for p in folder.glob("*.onnx")}
    assert files and set(card_accuracies(folder)) == files
    assert {"spec.json", "model.weights.h5", "CARD.md"} <= {p.name for p in folder.iterdir()}
    assert sum(p.stat().st_size for p in folder.iterdir()) < 8_000_000


def _load_test_split(name):
    try:
        return datasets.load(name)[2:]
    except datasets.DatasetError as e:
        pytest.skip(f"{name} not available here: {e}")


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for f in FOLDERS for p in sorted(f.glob("*.onnx"))],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_file_reproduces_card_accuracy(path):
    session = StreamingSession(path)
    info = session.info
    assert info.raw["validation"] and info.raw["producer"]
    x, y = _load_test_split(info.raw["dataset"])
    accuracy = 100 * float(np.mean(session.run(encode_test_split(info, x)).argmax(axis=1) == y))
    assert accuracy == pytest.approx(card_accuracies(path.parent)[path.name], abs=0.1)
