"""The typed metadata: a JSON round trip, older schemas read, newer refused."""

import json

import pytest
from snu_models import model_bytes, snu_layers

from snudeploy import metadata
from snudeploy.encoding import Encoding
from snudeploy.errors import ModelFileError


def sample() -> metadata.ModelInfo:
    layers = [metadata.Layer(12, decay=0.9, g="leaky_relu", activation="step"),
              metadata.Layer(4, decay=0.8, g="identity", activation="sigmoid", recurrent=True)]
    return metadata.build("step", "step", layers, 16, 17, encoding=Encoding(20, 6.0, 3), dataset="digits",
                          quantization=metadata.Quantization("ptq", {"bits": 8}), binary_input=True,
                          producer={"snudeploy": "x"}, validation={"passed": True}, source={"checkpoint": "c"})


def test_json_round_trip_is_exact():
    info = sample()
    again = metadata.parse(info.to_json())
    assert again == info and again.to_json() == info.to_json()
    assert [s.input for s in again.states] == ["l0_y", "l0_s", "l1_y", "l1_s"]
    assert again.classes == 4 and again.units == [12, 4] and again.input.binary


def test_schema_1_files_read_with_defaults():
    raw = json.loads(sample().to_json())
    raw["schema_version"] = 1
    for layer in raw["layers"]:
        del layer["cell"]
    del raw["input"]["binary"]
    info = metadata.parse(json.dumps(raw))
    assert info.layers[0].cell == "snu" and not info.input.binary and info.schema_version == metadata.SCHEMA_VERSION


def test_newer_schema_is_refused():
    raw = json.loads(sample().to_json())
    raw["schema_version"] = metadata.SCHEMA_VERSION + 1
    with pytest.raises(ModelFileError, match="Upgrade snudeploy"):
        metadata.parse(json.dumps(raw))


def test_every_exported_file_parses_to_the_same_contract():
    payload = model_bytes(snu_layers([16, 12, 4]))
    import onnx

    props = {p.key: p.value for p in onnx.load_model_from_string(payload).metadata_props}
    info = metadata.parse(props[metadata.METADATA_KEY])
    assert info.input.name == metadata.INPUT_NAME and info.outputs.spikes == metadata.SPIKES_NAME
    assert [(s.input, s.output) for s in info.states][:2] == [("l0_y", "l0_y_next"), ("l0_s", "l0_s_next")]
