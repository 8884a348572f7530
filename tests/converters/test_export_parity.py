"""Every format of every SNU variant: structure, metadata, and parity with TensorFlow and each other.

The ``exports`` fixture (conftest.py) makes one small digits checkpoint per variant (random
spiking weights) and exports it in every format, validated on 64 encoded digits test samples.
"""

import dataclasses
import json

import numpy as np
import onnx
import pytest
from converter_helpers import output_spikes, run
from snu_reference import snu_network

from snudeploy.converters import formats
from snudeploy.errors import ConfigurationError, ExportError, ModelFileError, OutputError, ValidationError
from snudeploy.metadata import METADATA_KEY, parse
from snudeploy.runtime import ReferenceEngine, rollout
from snudeploy.runtime.operators import ALLOWED, used_operators

pytestmark = pytest.mark.train

VARIANTS = ["spiking_leaky_relu", "soft_sigmoid", "recurrent", "lateral_inhibition", "identity_g"]
FILES = ["step.onnx", "unrolled.onnx", "loop.onnx", "customop.onnx", "customop_step.onnx"]


def metadata(path):
    model = onnx.load(str(path))
    return parse({p.key: p.value for p in model.metadata_props}.get(METADATA_KEY)).to_dict()


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_format_passes_the_float_gates_on_digits(exports, variant):
    files = exports[variant]
    assert sorted(files) == sorted(FILES)
    for name, exported in files.items():
        v = exported.validation
        assert exported.path.is_file()
        assert v["passed"], (name, v["failures"])
        assert v["prediction_agreement"] == 1.0 and v["spike_agreement"] >= 0.9999, (name, v)
        assert v["samples"] == 64 and v["timesteps"] == 20 and v["provider"] == "CPUExecutionProvider"
        assert v["max_state_delta"] < 1e-4
        assert v["mean_output_spikes_per_sample"] > 0  # the output layer actually fires
    on_disk = json.loads((files["step.onnx"].path.parent / "validation.json").read_text())
    assert sorted(on_disk["files"]) == sorted(FILES)


@pytest.mark.parametrize("variant", VARIANTS)
def test_metadata_contract_on_every_file(exports, checkpoints, variant):
    from snudeploy.spec import ModelSpec

    spec = ModelSpec.load(checkpoints[variant])
    for name, exported in exports[variant].items():
        meta = metadata(exported.path)
        fmt = name.removesuffix("_step.onnx").removesuffix(".onnx")
        assert meta["format"] == fmt and meta["opset"] == 17
        assert meta["graph"] == ("step" if name.startswith("step") or name.endswith("_step.onnx") else "sequence")
        assert meta["timesteps"] == (20 if fmt == "unrolled" else None)
        assert [layer["output_shape"] for layer in meta["layers"]] == [[32], [16], [10]]
        first = spec.layers[0]
        assert meta["layers"][0] == {"kind": "snu", "units": 32, "decay": 0.9, "g": first.g,
                                     "activation": first.activation, "recurrent": first.recurrent,
                                     "lateral_inhibition": first.lateral_inhibition, "output_shape": [32]}
        assert meta["input"] == {"name": "x", "shape": [64], "features": 64, "dtype": "float32", "binary": False}
        assert meta["encoding"] == {"kind": "rate", "timesteps": 20, "max_spikes": 15.0, "seed": 0}
        assert meta["dataset"] == "digits" and meta["readout"] == {"kind": "mean_rate"}
        assert meta["quantization"] == {"method": "none"}
        assert set(meta["producer"]) == {"snudeploy", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"}
        assert meta["source"]["checkpoint"] == checkpoints[variant].name
        assert meta["validation"]["passed"] and meta["validation"]["dataset"] == "digits"
        assert meta["outputs"] == ({"spikes": "spikes"} if meta["graph"] == "step"
                                   else {"spikes": "spikes", "rates": "rates"})
        assert [s["input"] for s in meta["states"]] == ["l0_y", "l0_s", "l1_y", "l1_s", "l2_y", "l2_s"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_file_is_valid_onnx_without_tanh_and_within_its_operator_allowlist(exports, variant):
    for name, exported in exports[variant].items():
        model = onnx.load(str(exported.path))
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        ops = {op for _, op in used_operators(model)}
        assert "Tanh" not in ops, name
        if variant != "soft_sigmoid":
            assert {"Greater", "Cast"} <= ops, name  # Heaviside spike
        assert {op for domain, op in used_operators(model) if domain != "ai.snudeploy"} <= ALLOWED[exported.format]


@pytest.mark.parametrize("variant", VARIANTS)
def test_step_rolled_equals_unrolled_loop_and_customop(exports, test_spikes, variant):
    files = exports[variant]
    step = run(files["step.onnx"].path, test_spikes)
    spikes = output_spikes(step)
    assert spikes.sum() > 0 and all(v.any() for k, v in step.states.items() if k.endswith("_s"))
    for name in ("customop_step.onnx", "unrolled.onnx", "loop.onnx", "customop.onnx"):
        other = run(files[name].path, test_spikes)
        assert np.mean(np.abs(output_spikes(other) - spikes) <= 1e-5) >= 0.9999, name
        np.testing.assert_allclose(other.rates, step.rates, atol=1e-5, err_msg=name)
        for key, value in step.states.items():
            np.testing.assert_allclose(other.states[key], value, atol=1e-4, err_msg=f"{name} {key}")


def test_every_layer_of_the_step_export_spikes(exports, test_spikes):
    result = run(exports["spiking_leaky_relu"]["step.onnx"].path, test_spikes)
    assert sorted(result.spikes) == [0, 1, 2] and all(s.sum() > 0 for s in result.spikes.values())


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
def test_loop_runs_any_length(exports, checkpoints, digits, steps):
    from snudeploy.checkpoint import load_checkpoint
    from snudeploy.converters.network import from_keras
    from snudeploy.encoding import encode_rate

    x = encode_rate(digits[2][:32], steps, min(15.0, steps), seed=1).astype(np.float32)
    for variant in ("spiking_leaky_relu", "recurrent"):
        files = exports[variant]
        loop = run(files["loop.onnx"].path, x)
        assert output_spikes(loop).shape == (32, steps, 10) and loop.rates.shape == (32, 10)
        rolled = run(files["step.onnx"].path, x)
        np.testing.assert_array_equal(output_spikes(loop), output_spikes(rolled))
        for key, value in rolled.states.items():
            np.testing.assert_allclose(loop.states[key], value, atol=1e-5)
        oracle, _ = snu_network(x, from_keras(load_checkpoint(checkpoints[variant])))
        assert np.mean(oracle[-1] == output_spikes(loop)) >= 0.999


def test_unrolled_graph_is_fixed_to_t(exports, test_spikes):
    from snudeploy.errors import InferenceError

    path = exports["spiking_leaky_relu"]["unrolled.onnx"].path
    model = onnx.load(str(path))
    x = next(i for i in model.graph.input if i.name == "x")
    assert [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim] == ["batch", 20, 64]
    with pytest.raises(InferenceError):  # ORT refuses another T
        run(path, test_spikes[:, :7])


def test_customop_graph_has_no_snu_arithmetic_outside_its_nodes(exports):
    from snudeploy.converters.checks import op_histogram

    allowed = {"ai.snudeploy::SNULayer", "ai.snudeploy::SNUCell", "Identity", "ReduceMean", "Constant"}
    for variant in VARIANTS:
        for name, op in (("customop.onnx", "SNULayer"), ("customop_step.onnx", "SNUCell")):
            model = onnx.load(str(exports[variant][name].path))
            histogram = op_histogram(model)
            assert set(histogram["graph"]) <= allowed, (variant, histogram["graph"])
            assert histogram["graph"][f"ai.snudeploy::{op}"] == 3
            assert histogram["bodies"] == {}  # the Scan lives inside the SNULayer function
            assert [f.name for f in model.functions] == [op]


@pytest.mark.parametrize("name", ["step.onnx", "customop_step.onnx", "customop.onnx"])
def test_reference_evaluator_runs_step_and_customop_like_ort(exports, test_spikes, name):
    path = exports["spiking_leaky_relu"][name].path
    ours, reference = run(path, test_spikes[:8, :6]), rollout(ReferenceEngine(str(path)), test_spikes[:8, :6])
    for layer, spikes in reference.spikes.items():
        np.testing.assert_array_equal(ours.spikes[layer], spikes)
    for key, value in reference.states.items():
        np.testing.assert_allclose(ours.states[key], value, atol=1e-5, err_msg=key)


def test_unrolled_with_other_t_and_given_dataset(checkpoints, digits, tmp_path):
    from snudeploy.converters import export_files

    files = export_files(checkpoints["spiking_leaky_relu"], "unrolled", tmp_path, timesteps=7,
                         dataset=(digits[2], digits[3]), samples=64)
    meta = metadata(files[0].path)
    assert meta["timesteps"] == 7 and meta["encoding"]["timesteps"] == 7 and meta["encoding"]["max_spikes"] == 7
    assert meta["validation"]["timesteps"] == 7 and meta["validation"]["dataset"] == "custom"
    assert meta["validation"]["samples"] == 64 and meta["validation"]["passed"]


@pytest.mark.parametrize("opset", [13, 18])
def test_step_and_customop_export_at_opset(checkpoints, tmp_path, opset):
    from snudeploy.converters import export

    ckpt = checkpoints["lateral_inhibition"]  # ReduceMax: axes moved to an input in opset 18
    for fmt in ("step", "customop"):
        path = export(ckpt, fmt, tmp_path, opset=opset, samples=64)
        model = onnx.load(str(path))
        assert {o.domain: o.version for o in model.opset_import}[""] == opset
        assert metadata(path)["opset"] == opset and metadata(path)["validation"]["passed"]


def test_export_returns_the_primary_file_and_writes_the_step_companion(checkpoints, tmp_path):
    from snudeploy.converters import export

    path = export(checkpoints["identity_g"], "customop", tmp_path / "net.onnx", samples=32)
    assert path == tmp_path / "net.onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx", "net_step.onnx", "validation.json"]
    assert metadata(tmp_path / "net_step.onnx")["graph"] == "step"


def test_failed_validation_writes_nothing_unless_forced(checkpoints, tmp_path, monkeypatch):
    from snudeploy.converters import export, export_files

    strict = dataclasses.replace(formats.get("step"), gates=formats.Gates(spike_agreement=1.5))
    monkeypatch.setitem(formats.FORMATS, "step", strict)
    with pytest.raises(ValidationError, match="nothing written") as info:
        export(checkpoints["spiking_leaky_relu"], "step", tmp_path / "a", samples=32)
    assert not (tmp_path / "a").exists()
    assert "spike agreement" in info.value.report["step/step"]["failures"][0]
    files = export_files(checkpoints["spiking_leaky_relu"], "step", tmp_path / "b", samples=32, force=True)
    assert files[0].path.is_file() and metadata(files[0].path)["validation"]["passed"] is False


def test_bad_arguments_are_typed_errors_before_any_work(checkpoints, tmp_path):
    from snudeploy.converters import export

    ckpt = checkpoints["spiking_leaky_relu"]
    with pytest.raises(ConfigurationError, match="opset 12"):
        export(ckpt, "step", tmp_path, opset=12)
    with pytest.raises(ConfigurationError, match="Unknown export format"):
        export(ckpt, "steps", tmp_path)
    with pytest.raises(ConfigurationError, match="give a folder"):
        export(ckpt, "all", tmp_path / "x.onnx")
    with pytest.raises(ModelFileError, match="not a snudeploy checkpoint"):
        export(tmp_path / "missing", "step", tmp_path)
    with pytest.raises(OutputError, match="is not a folder"):
        export(ckpt, "step", ckpt / "spec.json" / "out")
    with pytest.raises(ConfigurationError, match="timesteps"):
        export(ckpt, "unrolled", tmp_path, timesteps=0)
    with pytest.raises(ConfigurationError, match="features"):
        export(ckpt, "step", tmp_path, dataset=(np.zeros((4, 10)), np.zeros(4)))
    assert not any(tmp_path.iterdir())


def test_lstm_checkpoints_do_not_export(tmp_path):
    from snudeploy.converters import export
    from snudeploy.spec import ModelSpec

    ModelSpec.dense(64, 10, model="lstm", dataset="digits").save(tmp_path)
    with pytest.raises(ExportError, match="Only SNU"):
        export(tmp_path, "step", tmp_path / "out")


def test_validation_in_blocks_reports_what_one_block_does(checkpoints, tmp_path, monkeypatch):
    """Validation holds one block of samples' states at a time (a conv network on a whole test split would
    not fit in memory otherwise); the report over 64 samples in blocks of 24 (24 + 24 + 16) is the report of
    one block of 64, and every block is compared: a graph wrong only in the last block fails."""
    import importlib

    from snudeploy.converters import export_files, validation

    def reports(folder, fmt="step"):
        [file] = export_files(checkpoints["recurrent"], fmt, tmp_path / folder, samples=64, force=True)
        return {k: v for k, v in file.validation.items() if k != "seconds"}

    whole = reports("whole")
    monkeypatch.setattr(importlib.import_module("snudeploy.runtime.rollout"), "BLOCK", 24)
    assert reports("blocks") == whole and whole["samples"] == 64 and whole["passed"]

    real = validation.reference

    def wrong_in_last_block(model, network, spikes, readout):
        ref = real(model, network, spikes, readout)
        return dataclasses.replace(ref, rates=-ref.rates) if len(spikes) == 16 else ref

    monkeypatch.setattr(validation, "reference", wrong_in_last_block)
    failed = reports("last-block-wrong")
    assert not failed["passed"] and any("prediction agreement" in f for f in failed["failures"])
