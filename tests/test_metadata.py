"""The typed metadata: a JSON round trip, older schemas read, newer refused, and metadata that lies to itself."""

import json

import pytest
from snu_models import conv_network, model_bytes, snu_layers

from snudeploy import metadata
from snudeploy.encoding import Encoding
from snudeploy.errors import ModelFileError


def sample() -> metadata.ModelInfo:
    layers = snu_layers([16, 12, 4]).metadata_layers()
    return metadata.build("step", "step", layers, (16,), 17, encoding=Encoding(20, 6.0, 3), dataset="digits",
                          quantization=metadata.Quantization("ptq", {"bits": 8, "arithmetic": "integer"}),
                          binary_input=True,
                          producer={"snudeploy": "x"}, validation={"passed": True}, source={"checkpoint": "c"})


def test_json_round_trip_is_exact():
    info = sample()
    again = metadata.parse(info.to_json())
    assert again == info and again.to_json() == info.to_json()
    assert [s.input for s in again.states] == ["l0_y", "l0_s", "l1_y", "l1_s"]
    assert again.classes == 4 and again.units == [12, 4] and again.input.binary and again.input.shape == (16,)


def test_conv_layers_round_trip_with_n_d_shapes():
    network = conv_network((8, 8, 2))
    info = metadata.build("step", "step", network.metadata_layers(), (8, 8, 2), 17)
    again = metadata.parse(info.to_json())
    assert again == info and again.input.features == 128
    assert [layer.kind for layer in again.layers] == ["snu_conv2d", "sum_pool2d", "snu_conv2d", "flatten", "snu"]
    assert {s.input: s.shape for s in again.states}["l0_y"] == (8, 8, 4)
    assert [s.layer for s in again.states] == [0, 0, 2, 2, 4, 4]


def _schema_2(info: metadata.ModelInfo) -> dict:
    """``info`` as snudeploy 0.1 wrote it (schema 2)."""
    raw = json.loads(info.to_json())
    raw["schema_version"] = 2
    raw["input"] = {"name": "x", "features": 16, "dtype": "float32", "binary": raw["input"]["binary"]}
    raw["layers"] = [{"units": layer["units"], "cell": "snu", **{k: layer[k] for k in (
        "decay", "g", "activation", "recurrent", "lateral_inhibition")}} for layer in raw["layers"]]
    raw["states"] = [{k: v for k, v in s.items() if k != "dtype"} for s in raw["states"]]
    raw["readout"] = "mean_rate"
    return raw


def test_schema_2_and_1_files_read_as_schema_3():
    raw = _schema_2(sample())
    info = metadata.parse(json.dumps(raw))
    assert info.layers == sample().layers and info.input == sample().input and info.readout.kind == "mean_rate"
    raw["schema_version"] = 1
    for layer in raw["layers"]:
        del layer["cell"]
    del raw["input"]["binary"]
    info = metadata.parse(json.dumps(raw))
    assert info.layers[0].kind == "snu" and not info.input.binary and info.schema_version == metadata.SCHEMA_VERSION


def test_newer_schema_is_refused():
    raw = json.loads(sample().to_json())
    raw["schema_version"] = metadata.SCHEMA_VERSION + 1
    with pytest.raises(ModelFileError, match="Upgrade snudeploy"):
        metadata.parse(json.dumps(raw))


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw["layers"][0].update(units=100), r"layer 0 \(snu\) says its output shape is \[12\]; its fields "
                                                     r"and input \[16\] give \[100\]"),
    (lambda raw: raw["layers"][0].update(output_shape=[100]), r"says its output shape is \[100\]"),
    (lambda raw: raw["states"][0].update(shape=[None, 5]), r"state l0_y has shape \[5\]; layer 0 \(snu\) outputs \[12\]"),
    (lambda raw: raw["input"].update(features=17), r"`input.features` is 17 but `input.shape` \[16\] holds 16"),
    (lambda raw: raw["states"][0].update(output="l0_s_next") or raw["states"][1].update(output="l0_y_next"),
     r"state 'y' of layer 0 is wired l0_y -> l0_s_next; the naming contract says l0_y -> l0_y_next"),
    (lambda raw: raw["states"].pop(1), r"layer 0 \(snu\) lacks its 's' state"),
    (lambda raw: raw["layers"][0].update(kind="snu_conv2d"), "invalid snudeploy metadata"),
    (lambda raw: raw["layers"][0].update(decay=2.0), "`decay`"),
], ids=["units", "output-shape", "state-shape", "features-count", "swapped-wiring", "missing-state",
        "wrong-kind", "bad-field"])
def test_metadata_that_contradicts_itself_is_refused(change, message):
    raw = json.loads(sample().to_json())
    change(raw)
    with pytest.raises(ModelFileError, match=message):
        metadata.parse(json.dumps(raw))


def test_every_exported_file_parses_to_the_same_contract():
    payload = model_bytes(snu_layers([16, 12, 4]))
    import onnx

    props = {p.key: p.value for p in onnx.load_model_from_string(payload).metadata_props}
    info = metadata.parse(props[metadata.METADATA_KEY])
    assert info.input.name == metadata.INPUT_NAME and info.outputs.spikes == metadata.SPIKES_NAME
    assert [(s.input, s.output) for s in info.states][:2] == [("l0_y", "l0_y_next"), ("l0_s", "l0_s_next")]


def test_encoders_and_readouts_round_trip_and_the_output_layer_follows_the_readout():
    import numpy as np
    from snu_models import integrator_network

    from snudeploy.encoding import Delta
    from snudeploy.readouts import Readout

    delta = Delta().fit(np.random.default_rng(0).normal(size=(4, 6, 3)))
    network = integrator_network([6, 8, 4])
    info = metadata.build("step", "step", network.metadata_layers(), (6,), 17, encoding=delta,
                          readout=Readout("membrane", "max"))
    again = metadata.parse(info.to_json())
    assert again == info and again.encoding == delta and again.readout == Readout("membrane", "max")
    assert json.loads(info.to_json())["readout"] == {"kind": "membrane", "reduce": "max"}
    assert [s.input for s in again.states] == ["l0_y", "l0_s", "l1_v"]
    with pytest.raises(ModelFileError, match="needs a leaky_integrator output layer"):
        metadata.build("step", "step", snu_layers([6, 4]).metadata_layers(), (6,), 17, readout="membrane")
    with pytest.raises(ModelFileError, match="cannot read a leaky_integrator"):
        metadata.build("step", "step", network.metadata_layers(), (6,), 17, readout="spike_count")
    raw = json.loads(info.to_json())
    raw["readout"] = {"kind": "membrane", "reduce": "median"}
    with pytest.raises(ModelFileError, match="reduce"):
        metadata.parse(json.dumps(raw))
    raw["readout"], raw["encoding"] = {"kind": "membrane"}, {**delta.to_dict(), "threshold": [1.0]}
    with pytest.raises(ModelFileError, match="threshold"):
        metadata.parse(json.dumps(raw))


def test_specs_keep_encoder_readout_and_loss_together():
    from snudeploy.encoding import Direct
    from snudeploy.errors import ConfigurationError
    from snudeploy.readouts import Readout
    from snudeploy.spec import ModelSpec, Recipe

    direct = Direct(timesteps=5, mean=(0.0, 1.0), scale=(1.0, 2.0))
    spec = ModelSpec.dense(2, 3, hidden=(4,), encoding=direct, readout=Readout("membrane"),
                           recipe=Recipe(loss="crossentropy"))
    assert spec.layers[-1].kind == "leaky_integrator" and ModelSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["readout"] == {"kind": "membrane", "reduce": "last"}
    with pytest.raises(ConfigurationError, match="crossentropy loss"):
        ModelSpec.dense(2, 3, hidden=(4,), readout=Readout("spike_count"))
    with pytest.raises(ConfigurationError, match="leaky_integrator layer with one unit per class"):
        spec.replace(layers=spec.layers[:-1] + (spec.layers[0].replace(units=3),))


def test_an_encoding_whose_channels_are_not_the_input_is_refused():
    from snudeploy.encoding import Delta

    delta = Delta(timesteps=5, mean=(0.0,) * 3, scale=(1.0,) * 3, threshold=(0.5,) * 3)  # 3 channels -> 6 inputs
    info = metadata.build("step", "step", snu_layers([6, 4]).metadata_layers(), (6,), 17, encoding=delta)
    raw = json.loads(info.to_json())
    raw["encoding"]["mean"] = raw["encoding"]["mean"][:2]
    raw["encoding"]["scale"] = raw["encoding"]["scale"][:2]
    raw["encoding"]["threshold"] = raw["encoding"]["threshold"][:2]
    with pytest.raises(ModelFileError, match=r"the delta encoding makes 4 input values per step of 2 channels; "
                                             r"`input.features` is 6"):
        metadata.parse(json.dumps(raw))
