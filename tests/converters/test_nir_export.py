"""SNU -> NIR export: exact mapping, refusal of what does not map, --approximate, and round trips.

TensorFlow-free tests build SNU layers with ``snu_models.snu_layers`` and compare the NIR
graph with the SNU oracle (``snu_reference.py``) through the NIR interpreter, and its import
with the direct ONNX graph. ``train`` tests export real checkpoints through the CLI.
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
from snu_models import model_bytes, snu_layers  # noqa: E402

from snudeploy.cli.main import cli  # noqa: E402
from snudeploy.converters.nir_export import inexact, to_nir  # noqa: E402
from snudeploy.converters.nir_import import import_nir  # noqa: E402
from snudeploy.runtime import Engine, SessionSettings, load_model, rollout  # noqa: E402

DT = 1e-3
SIZES = [20, 16, 12, 6]
VARIANTS = {"feedforward": {}, "recurrent": {"recurrent": True}, "decay_one_is_IF": {"decay": 1.0},
            "decay_zero": {"decay": 0.0}}


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


def _states_agree(imported, direct, count: int):
    """The imported ``v`` equals the SNU's ``s·(1 - y)`` in each of ``count`` layers (the two resets agree)."""
    for i in range(count):
        expected = direct.states[f"l{i}_s"] * (1 - direct.states[f"l{i}_y"])
        np.testing.assert_allclose(imported.states[f"l{i}_v"], expected, rtol=1e-6, atol=1e-6)


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
    _states_agree(imported, direct, len(layers.layers))


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
    reasons = inexact(snu_layers(SIZES, g="leaky_relu", activation="sigmoid", lateral_inhibition=True))
    assert reasons[0].startswith("layers 0, 1, 2: g = leaky_relu") and "g dropped" in reasons[0]
    assert "soft sSNU" in reasons[1] and "sigmoid(s - b) > 0.5" in reasons[1]
    assert "lateral inhibition" in reasons[2] and "per-neuron reset" in reasons[2]


# -- real checkpoints (TensorFlow) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exact_checkpoints(tmp_path_factory):
    need("train")
    from checkpoints import random_checkpoint

    root = tmp_path_factory.mktemp("nir-checkpoints")
    return {"feedforward": random_checkpoint(root / "ff", seed=1, g="identity"),
            "recurrent": random_checkpoint(root / "rec", seed=2, g="identity", recurrent=True)}


def _export(args):
    return CliRunner().invoke(cli, ["export", *map(str, args), "--format", "nir", "--samples", "32"])


@pytest.mark.train
@pytest.mark.parametrize("variant", ["feedforward", "recurrent"])
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
    graph = nir.read(tmp_path / "nir" / "model.nir")
    from snudeploy.converters.network import from_keras

    model = load_checkpoint(ckpt)
    ref = reference(model, from_keras(model), test_spikes)
    outputs, _ = nir_reference.run(graph, test_spikes, graph.metadata["dt"])
    for name, spikes in zip(_neuron_names(graph), ref.spikes.values()):
        assert np.mean(outputs[name] == spikes) >= 0.9999, name
    assert np.mean(outputs["output"].mean(axis=1).argmax(1) == ref.rates.argmax(1)) == 1.0

    # round trip SNU -> NIR -> ONNX equals the direct ONNX export
    result = CliRunner().invoke(cli, ["import-nir", str(tmp_path / "nir" / "model.nir"), "--out", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    direct = export_files(ckpt, "step", tmp_path / "direct", samples=32)[0]
    info = load_model(tmp_path / "i" / "step.onnx").info
    assert (info.encoding, info.dataset) == (direct.info.encoding, direct.info.dataset)
    direct = direct.path
    imported, direct = run(tmp_path / "i" / "step.onnx", test_spikes), run(direct, test_spikes)
    assert np.mean(output_spikes(imported) == output_spikes(direct)) >= 0.9999
    _states_agree(imported, direct, len(ref.states))


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
