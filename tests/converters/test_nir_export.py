"""SNU -> NIR export: exact mapping, refusal of what does not map, --approximate, and round trips.

TensorFlow-free tests build SNU networks with ``snu_models.snu_layers`` (dense) and
``snu_models.conv_network`` (conv -> pool -> conv -> flatten -> dense) and compare the NIR
graph with the SNU oracle (``snu_reference.py``) through the NIR interpreter, and its import
with the direct ONNX graph. ``train`` tests export real checkpoints through the CLI.
Conv networks get thresholds 1e-3 off the sums they were read from (``margin``), so that spikes
do not depend on the order a kernel sums in: spikes agree at >= 0.9999, potentials within 1e-5
(float64 interpreter against float32 numpy) or 1e-6 (two float32 ONNX graphs).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from needs import need

need("nir")

import nir  # noqa: E402
import nir_reference  # noqa: E402
import snu_reference  # noqa: E402
from converter_helpers import output_spikes, run  # noqa: E402
from snu_models import conv_network, model_bytes, snu_layers  # noqa: E402

from snudeploy.cli.main import cli  # noqa: E402
from snudeploy.converters.nir_export import channels_first, inexact, to_nir  # noqa: E402
from snudeploy.converters.nir_import import import_nir  # noqa: E402
from snudeploy.runtime import Engine, SessionSettings, load_model, rollout  # noqa: E402

DT = 1e-3
SIZES = [20, 16, 12, 6]
VARIANTS = {"feedforward": {}, "recurrent": {"recurrent": True}, "decay_one_is_IF": {"decay": 1.0},
            "decay_zero": {"decay": 0.0}}
IMAGE = (8, 8, 2)
MARGIN = 1e-3
CONV_VARIANTS = {  # conv_network: conv 3x3 -> pool 2 -> conv 3x2 -> flatten -> dense
    "same_stride_1_and_2_sum_pool": {},  # the second conv pads its odd row at the end (TensorFlow's 'same')
    "same_stride_2_both_avg_pool": {"strides": (2, 2), "pool": "avg_pool2d"},  # odd rows and columns
    "valid_padding": {"padding": "valid"},
    "decay_one_is_IF": {"decay": 1.0},
}


def _spikes(features, seed=0, n=32, t=25):
    return (np.random.default_rng(seed).random((n, t, features)) < 0.3).astype(np.float32)


def _neuron_names(graph):
    """The neuron of each layer, as the interpreter names it (``lif1`` or ``lif1.lif`` in a subgraph)."""
    names = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            names.append(f"{name}.lif")
        elif type(node).__name__ in ("LIF", "IF"):
            names.append(name)
    return names


def _states_agree(imported, direct, network):
    """The imported ``v`` equals the SNU's ``s·(1 - y)`` in every stateful layer of ``network`` (the two resets
    agree); NIR's layers count neurons, the direct graph's every layer, and NIR's images are channels first."""
    for i, (layer, _) in enumerate(network.stateful()):
        expected = channels_first(direct.states[f"l{layer}_s"] * (1 - direct.states[f"l{layer}_y"]), 1)
        np.testing.assert_allclose(imported.states[f"l{i}_v"], expected, rtol=1e-6, atol=1e-6, err_msg=f"l{i}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_snu_to_nir_matches_the_snu_oracle_in_the_nir_interpreter(tmp_path, variant):
    layers = snu_layers(SIZES, seed=3, g="identity", **VARIANTS[variant])
    path = tmp_path / "model.nir"
    nir.write(path, to_nir(layers, DT))
    graph = nir.read(path)
    x = _spikes(SIZES[0])
    outputs, _ = nir_reference.run(graph, x, graph.metadata["dt"])
    expected, _ = snu_reference.snu_network(x, layers)
    for name, spikes in zip(_neuron_names(graph), expected):
        assert spikes.mean() > 0.02, f"{name} should spike"
        assert np.mean(outputs[name] == spikes) >= 0.9999, name


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_snu_to_nir_to_onnx_equals_the_direct_onnx_graph(tmp_path, variant):
    layers = snu_layers(SIZES, seed=4, g="identity", **VARIANTS[variant])
    nir.write(tmp_path / "model.nir", to_nir(layers, DT))
    x = _spikes(SIZES[0], seed=1)
    imported = run(import_nir(tmp_path / "model.nir", tmp_path / "onnx").path, x)
    direct = rollout(Engine(model_bytes(layers, "step"), SessionSettings("cpu", threads=1)), x)
    np.testing.assert_array_equal(output_spikes(imported), output_spikes(direct))
    _states_agree(imported, direct, layers)


def _image_spikes(shape, seed=0, n=24, t=12):
    return (np.random.default_rng(seed).random((n, t, *shape)) < 0.3).astype(np.float32)


@pytest.mark.parametrize("variant", sorted(CONV_VARIANTS))
def test_conv_to_nir_matches_the_snu_oracle_in_the_nir_interpreter(tmp_path, variant):
    network = conv_network(IMAGE, 6, g="identity", margin=MARGIN, **CONV_VARIANTS[variant])
    nir.write(tmp_path / "model.nir", to_nir(network, DT))
    graph = nir.read(tmp_path / "model.nir", type_check=False)  # nir 1.0 sizes a (3, 2) kernel's output as (3, 3)
    assert tuple(graph.nodes["input"].input_type["input"]) == (2, 8, 8)
    x = _image_spikes(IMAGE)
    outputs, states = nir_reference.run(graph, channels_first(x, 2), graph.metadata["dt"])
    expected, final = snu_reference.snu_network(x, network)
    for name, spikes, (y, s) in zip(_neuron_names(graph), expected, final):
        assert spikes.mean() > 0.02, f"{name} should spike"
        assert np.mean(outputs[name] == channels_first(spikes, 2)) >= 0.9999, name
        np.testing.assert_allclose(states[name]["v"], channels_first(s * (1 - y), 1), rtol=1e-5, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("variant", sorted(CONV_VARIANTS))
def test_conv_to_nir_to_onnx_equals_the_direct_onnx_graph(tmp_path, variant):
    network = conv_network(IMAGE, 7, g="identity", margin=MARGIN, **CONV_VARIANTS[variant])
    nir.write(tmp_path / "model.nir", to_nir(network, DT))
    imported = import_nir(tmp_path / "model.nir", tmp_path / "onnx")
    assert imported.info.input.shape == (2, 8, 8)
    x = _image_spikes(IMAGE, seed=1)
    result = run(imported.path, channels_first(x, 2))
    direct = rollout(Engine(model_bytes(network, "step"), SessionSettings("cpu", threads=1)), x)
    assert np.mean(output_spikes(result) == output_spikes(direct)) >= 0.9999
    _states_agree(result, direct, network)


def test_conv_graph_layout_flatten_order_and_padding():
    network = conv_network(IMAGE, 8, g="identity", strides=(2, 2))
    graph = to_nir(network, DT)
    assert list(graph.nodes) == ["input", "conv0", "lif0", "sumpool1", "conv2", "lif2", "flatten3", "affine4",
                                 "lif4", "output"]
    conv0, conv2 = network.layers[0], network.layers[2]
    # 8 -> 4 with a 3-wide kernel at stride 2: TensorFlow pads 0 before, 1 after; NIR: 1 both sides, kernel grown
    assert conv0.spec.pads(conv0.input_shape) == [0, 0, 1, 1]
    assert tuple(graph.nodes["conv0"].padding) == (1, 1) and graph.nodes["conv0"].weight.shape == (4, 2, 4, 4)
    np.testing.assert_array_equal(graph.nodes["conv0"].weight[:, :, 1:, 1:],
                                  np.transpose(conv0.weights["kernel"], (3, 2, 0, 1)))
    assert not graph.nodes["conv0"].weight[:, :, 0, :].any() and not graph.nodes["conv0"].weight[:, :, :, 0].any()
    assert conv2.spec.pads(conv2.input_shape) == [0, 0, 1, 0] and graph.nodes["conv2"].weight.shape == (6, 4, 4, 2)
    np.testing.assert_array_equal(graph.nodes["lif0"].v_threshold,
                                  np.broadcast_to(conv0.weights["threshold"][:, None, None], (4, 4, 4)))
    # the Affine reads NIR's (C, H, W) flattening: column j is Keras' row of the same neuron
    flat_shape = network.layers[3].input_shape
    hwc = np.arange(int(np.prod(flat_shape))).reshape(flat_shape)
    np.testing.assert_array_equal(graph.nodes["affine4"].weight,
                                  network.layers[4].weights["kernel"][hwc.transpose(2, 0, 1).reshape(-1)].T)


def test_square_kernels_pass_nirs_own_type_check_and_non_square_ones_need_it_off(tmp_path):
    """nir (1.0) sizes a Conv2d's output with its kernel height on both axes: snudeploy writes the right output
    type, which nir.read(type_check=True) recomputes wrongly for a non-square kernel (docs/nir.md says so)."""
    from snudeploy import kinds
    from snudeploy.converters.network import Network

    rng = np.random.default_rng(0)
    conv = kinds.ConvSNU(filters=3, kernel_size=3, strides=2, g="identity")  # 8 -> 4: odd row and column at the end
    dense = kinds.DenseSNU(units=4, g="identity")
    square = Network.build((8, 8, 1), [
        (conv, {"kernel": rng.normal(size=(3, 3, 1, 3)).astype(np.float32), "threshold": np.ones(3, np.float32)}),
        (kinds.Flatten(), {}),
        (dense, {"kernel": rng.normal(size=(48, 4)).astype(np.float32), "threshold": np.ones(4, np.float32)})])
    nir.write(tmp_path / "square.nir", to_nir(square, DT))
    assert nir.read(tmp_path / "square.nir").nodes["conv0"].weight.shape == (3, 1, 4, 4)
    nir.write(tmp_path / "other.nir", to_nir(conv_network(IMAGE, g="identity"), DT))  # a (3, 2) kernel
    with pytest.raises(ValueError, match="type mismatch"):
        nir.read(tmp_path / "other.nir")
    assert nir.read(tmp_path / "other.nir", type_check=False).nodes["conv2"].weight.shape == (6, 4, 4, 2)


def test_networks_nir_cannot_express_are_refused_by_name():
    from snudeploy import kinds
    from snudeploy.converters.network import Network
    from snudeploy.errors import ExportError

    conv = kinds.ConvSNU(filters=2, kernel_size=3, g="identity")
    last_conv = Network.build((4, 4, 1), [(conv, {"kernel": np.ones((3, 3, 1, 2), np.float32),
                                                  "threshold": np.ones(2, np.float32)})])
    with pytest.raises(ExportError, match="end in a dense SNU layer"):
        to_nir(last_conv, DT)


@pytest.mark.parametrize("dt", [1e-3, 2.5e-4, 1.0])
def test_lif_steps_round_to_the_snu_decay_and_a_unit_gain_in_float32(dt):
    from snudeploy.converters.nir_import import NEURONS

    decay = np.random.default_rng(0).uniform(0, 1, 10_000)
    tau = dt / (1 - decay)
    (a, c, d), = NEURONS["LIF"].coefficients({"tau": tau, "r": tau / dt, "v_leak": np.zeros_like(tau)}, dt)
    assert (a.astype(np.float32) == decay.astype(np.float32)).all()
    assert (c.astype(np.float32) == 1).all() and not d.any()


def test_graph_layout_and_metadata_round_trip_through_nir_write_and_read(tmp_path):
    layers = snu_layers(SIZES, seed=5, g="identity", recurrent=True)
    nir.write(tmp_path / "model.nir", to_nir(layers, 2.5e-4, {"source": "unit"}))
    graph = nir.read(tmp_path / "model.nir")
    assert graph.metadata["dt"] == 2.5e-4 and graph.metadata["discretisation"] == "forward-euler"
    assert graph.metadata["source"] == "unit"
    assert sorted(graph.nodes) == ["affine0", "affine1", "affine2", "input", "lif0", "lif1", "lif2", "output"]
    lif = graph.nodes["lif0"].nodes["lif"]
    np.testing.assert_allclose(lif.tau, 2.5e-4 / (1 - 0.9))
    np.testing.assert_allclose(lif.r * 2.5e-4, lif.tau)
    weights = layers.layers[0].weights
    np.testing.assert_array_equal(lif.v_threshold, weights["threshold"])
    np.testing.assert_array_equal(graph.nodes["affine0"].weight, weights["kernel"].T)
    np.testing.assert_array_equal(graph.nodes["lif0"].nodes["w_rec"].weight, weights["recurrent_kernel"].T)
    assert ("w_rec", "lif") in graph.nodes["lif0"].edges


def test_inexact_layers_say_why_and_what_the_approximation_does():
    assert inexact(snu_layers(SIZES, g="identity")) == []
    assert inexact(conv_network(IMAGE, g="identity")) == []
    assert inexact(conv_network(IMAGE)) == ["layers 0, 2, 4: g = leaky_relu, but a NIR LIF integrates linearly "
                                            "(approximation: g dropped)"]
    reasons = inexact(snu_layers(SIZES, g="leaky_relu", activation="sigmoid", lateral_inhibition=True))
    assert reasons[0].startswith("layers 0, 1, 2: g = leaky_relu") and "g dropped" in reasons[0]
    assert "soft sSNU" in reasons[1] and "sigmoid(s - b) > 0.5" in reasons[1]
    assert "lateral inhibition" in reasons[2] and "per-neuron reset" in reasons[2]


# -- real checkpoints (TensorFlow) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exact_checkpoints(tmp_path_factory):
    need("train")
    from checkpoints import random_checkpoint, random_conv_checkpoint

    root = tmp_path_factory.mktemp("nir-checkpoints")
    return {"feedforward": random_checkpoint(root / "ff", seed=1, g="identity"),
            "recurrent": random_checkpoint(root / "rec", seed=2, g="identity", recurrent=True),
            "conv": random_conv_checkpoint(root / "conv", seed=3, g="identity", margin=MARGIN)}


def _export(args):
    return CliRunner().invoke(cli, ["export", *map(str, args), "--format", "nir", "--samples", "32"])


@pytest.mark.train
@pytest.mark.parametrize("variant", ["feedforward", "recurrent", "conv"])
def test_cli_exports_identity_g_exactly_and_the_file_runs_like_tensorflow(exact_checkpoints, tmp_path, variant,
                                                                          test_spikes):
    from snudeploy.checkpoint import load_checkpoint
    from snudeploy.converters import export_files
    from snudeploy.converters.validation import reference

    ckpt = exact_checkpoints[variant]
    result = _export([ckpt, "--out", tmp_path / "nir"])
    assert result.exit_code == 0, result.output
    row = result.stdout.strip().splitlines()[-1]
    assert "model.nir" in row and row.rstrip(" |").endswith("pass")
    report = json.loads((tmp_path / "nir" / "validation.json").read_text())["files"]["model.nir"]
    assert report["exact"] and report["prediction_agreement"] == 1.0 and report["spike_agreement"] >= 0.9999
    assert report["max_state_delta"] < 1e-4

    # the written file, on the independent interpreter, against TensorFlow: every layer, every step
    graph = nir.read(tmp_path / "nir" / "model.nir", type_check=False)  # nir 1.0: see the conv tests
    from snudeploy.converters.network import from_keras

    model = load_checkpoint(ckpt)
    network = from_keras(model)
    x = test_spikes.reshape(*test_spikes.shape[:2], *network.input_shape)  # digits [8, 8, 1] for the conv network
    ref = reference(model, network, x)
    outputs, _ = nir_reference.run(graph, channels_first(x, 2), graph.metadata["dt"])
    for name, spikes in zip(_neuron_names(graph), ref.spikes.values()):
        assert np.mean(outputs[name] == channels_first(spikes, 2)) >= 0.9999, name
    assert np.mean(outputs["output"].mean(axis=1).argmax(1) == ref.rates.argmax(1)) == 1.0

    # round trip SNU -> NIR -> ONNX equals the direct ONNX export
    result = CliRunner().invoke(cli, ["import-nir", str(tmp_path / "nir" / "model.nir"), "--out", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    direct = export_files(ckpt, "step", tmp_path / "direct", samples=32)[0]
    info = load_model(tmp_path / "i" / "step.onnx").info
    assert (info.encoding, info.dataset) == (direct.info.encoding, direct.info.dataset)
    direct = direct.path
    imported, direct = run(tmp_path / "i" / "step.onnx", channels_first(x, 2)), run(direct, x)
    assert np.mean(output_spikes(imported) == output_spikes(direct)) >= 0.9999
    _states_agree(imported, direct, network)


@pytest.mark.train
@pytest.mark.parametrize("variant", ["spiking_leaky_relu", "soft_sigmoid", "lateral_inhibition"])
def test_cli_refuses_inexact_layers_unless_approximate(checkpoints, tmp_path, variant):
    reason = {"spiking_leaky_relu": "g = leaky_relu", "soft_sigmoid": "soft sSNU",
              "lateral_inhibition": "lateral inhibition"}[variant]
    refused = _export([checkpoints[variant], "--out", tmp_path / "a"])
    assert refused.exit_code == 2 and reason in refused.stderr and "--approximate" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "a").exists()
    result = _export([checkpoints[variant], "--out", tmp_path / "b", "--approximate", "--json", tmp_path / "r.json"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].rstrip(" |").endswith("approx.")
    assert f"Approximate: layers 0, 1, 2: {reason}" in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())["validation"][str(tmp_path / "b" / "model.nir")]
    assert report["exact"] is False and report["gates"] is None and report["approximations"]
    assert 0 < report["spike_agreement"] <= 1 and 0 < report["prediction_agreement"] <= 1


def test_cli_dt_and_approximate_need_format_nir(tmp_path):
    result = CliRunner().invoke(cli, ["export", str(tmp_path), "--out", str(tmp_path / "o"), "--dt", "0.001"])
    assert result.exit_code == 2 and "--format nir only" in result.stderr


@pytest.mark.slow
def test_trained_digits_export_approximately_with_measured_agreement(digits_checkpoint, tmp_path):
    from snudeploy.converters.nir_export import export_nir

    exported = export_nir(digits_checkpoint, tmp_path, approximate=True, samples=360)
    report = exported.validation
    assert not report["exact"] and report["samples"] == 360
    assert report["prediction_agreement"] >= 0.95 and report["nir_accuracy"] >= 0.9
