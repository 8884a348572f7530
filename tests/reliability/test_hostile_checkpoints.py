"""Untrusted checkpoints: a spec.json of the wrong types or absurd sizes, NaN weights, garbage files."""

import json

import numpy as np
import pytest

from snudeploy.errors import ExportError, ModelFileError
from snudeploy.spec import ModelSpec

GOOD = ModelSpec.dense(64, 10, hidden=(32,), dataset="digits").to_dict()
LEGACY = {"input_features": 64, "classes": 10, "hidden": [32], "model": "snu", "cell": "snu", "decay": 0.9,
          "g": "leaky_relu", "recurrent": False, "lateral_inhibition": False, "dataset": "digits",
          "readout": "mean_rate", "schema_version": 1}  # as snudeploy 0.1 wrote spec.json


def test_a_schema_1_spec_loads_as_its_layer_list(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps(LEGACY))
    assert ModelSpec.load(tmp_path) == ModelSpec.from_dict(GOOD)


@pytest.mark.parametrize("change, message", [
    ({"layers": [{"kind": "snu", "units": "abc"}, GOOD["layers"][1]]}, "`units`"),
    ({"layers": [{"kind": "lstm", "units": 3}, GOOD["layers"][1]]}, "Unknown layer kind 'lstm'"),
    ({"layers": [{**GOOD["layers"][0], "decay": 1.5}, GOOD["layers"][1]]}, "`decay`"),
    ({"layers": [{**GOOD["layers"][0], "colour": "red"}, GOOD["layers"][1]]}, "has no field.s. colour"),
    ({"layers": GOOD["layers"][:1]}, "one unit per class"),
    ({"layers": "snu"}, "`layers`"),
    ({"input_shape": [0]}, "`input_shape`"),
    ({"schema_version": "x"}, "invalid schema version 'x'"),
], ids=["units", "unknown-kind", "layer-decay", "unknown-field", "no-output-layer", "layers-string", "input-shape",
        "schema-string"])
def test_a_layer_spec_of_wrong_types_is_one_model_file_error(tmp_path, change, message):
    (tmp_path / "spec.json").write_text(json.dumps({**GOOD, **change}))
    with pytest.raises(ModelFileError, match=message):
        ModelSpec.load(tmp_path)


@pytest.mark.parametrize("change, message", [
    ({"hidden": ["abc"]}, "`hidden`"),
    ({"hidden": "250"}, "`hidden`"),
    ({"hidden": [100_000_000]}, "`hidden`, expected a positive integer up to 65,536"),
    ({"hidden": [60_000, 60_000]}, "weights; snudeploy builds networks of up to"),
    ({"decay": "abc"}, "`decay`"),
    ({"decay": 1.5}, "`decay`"),
    ({"g": ["leaky_relu"]}, "`g`"),
    ({"g": "tanh"}, "`g`"),
    ({"classes": True}, "`classes`"),
    ({"recurrent": "yes"}, "`recurrent`"),
    ({"encoding": {"timesteps": 10_000_000}}, "`timesteps`"),
    ({"encoding": {"timesteps": 20, "max_spikes": float("nan")}}, "`max_spikes`"),
    ({"encoding": [20]}, "`encoding` and `recipe` must be"),
    ({"recipe": {"epochs": -1}}, "`epochs`"),
    ({"recipe": {"optimizer": "lbfgs"}}, "`optimizer`"),
    ({"quantization": "int8"}, "`quantization`"),
    ({"model": "gru"}, "`model`"),
], ids=lambda v: next(iter(v)) if isinstance(v, dict) else None)
def test_a_spec_of_wrong_types_or_sizes_is_one_model_file_error(tmp_path, change, message):
    (tmp_path / "spec.json").write_text(json.dumps({**LEGACY, **change}))
    with pytest.raises(ModelFileError, match=message):
        ModelSpec.load(tmp_path)


@pytest.mark.parametrize("content", [b"\xff\xfe not json", b"[1, 2]", b"{" * 100_000, b""])
def test_garbage_spec_files(tmp_path, content):
    (tmp_path / "spec.json").write_bytes(content)
    with pytest.raises(ModelFileError):
        ModelSpec.load(tmp_path)


@pytest.mark.train
def test_nan_weights_are_refused_at_export_and_load(tmp_path):
    from checkpoints import random_checkpoint

    from snudeploy.checkpoint import load_checkpoint, save_checkpoint
    from snudeploy.converters import export

    folder = random_checkpoint(tmp_path / "ckpt")
    model = load_checkpoint(folder)
    cell = model.layers[0].cell
    kernel = cell.kernel.numpy()
    kernel[3, 4] = np.nan
    cell.kernel.assign(kernel)
    save_checkpoint(model, ModelSpec.load(folder), folder)
    with pytest.raises(ExportError, match="NaN or Inf weights"):
        export(folder, "step", tmp_path / "out")
    assert not (tmp_path / "out").exists()
