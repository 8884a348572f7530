"""NIR -> ONNX import against the plain-numpy NIR interpreter, on graphs built with the ``nir`` API.

Each graph is written with ``nir.write``, read back, imported and rolled on the runtime over
random spikes; the interpreter (``nir_reference.py``) runs the same file. Bad files are one
``ModelFileError`` (CLI: one stderr line, exit code 2) and write nothing.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from needs import need

need("nir")

import nir  # noqa: E402
import nir_reference  # noqa: E402
from converter_helpers import output_spikes, run  # noqa: E402

from snudeploy.cli.main import cli  # noqa: E402
from snudeploy.converters.nir_graph import read  # noqa: E402
from snudeploy.converters.nir_import import import_graph, import_nir  # noqa: E402
from snudeploy.errors import ConfigurationError, MissingExtraError, ModelFileError  # noqa: E402
from snudeploy.runtime import Engine, SessionSettings, StreamingSession, load_model, rollout  # noqa: E402
from snudeploy.runtime.operators import ALLOWED, used_operators  # noqa: E402

DT = 1e-3
RNG = np.random.default_rng(7)


def _affine(n_out, n_in, rng, bias=False, mean=0.05):
    weight = rng.normal(mean, 1.5 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32)
    return nir.Affine(weight=weight, bias=rng.normal(0, 0.1, n_out).astype(np.float32) if bias
                      else np.zeros(n_out, np.float32))


def _lif(n, rng, v_reset=0.0, v_leak=0.0, shape=None):
    shape = shape or (n,)
    tau = rng.uniform(2e-3, 2e-2, shape)
    return nir.LIF(tau=tau, r=rng.uniform(5, 15, shape), v_leak=np.full(shape, v_leak),
                   v_threshold=rng.uniform(0.5, 1.5, shape), v_reset=np.full(shape, v_reset))


def _cuba(n, rng, spiking=True):
    params = dict(tau_syn=rng.uniform(2e-3, 5e-3, n), tau_mem=rng.uniform(5e-3, 2e-2, n),
                  r=rng.uniform(1, 3, n), v_leak=np.zeros(n), w_in=rng.uniform(2, 4, n))
    return nir.CubaLIF(v_threshold=rng.uniform(0.3, 0.8, n), **params) if spiking else nir.CubaLI(**params)


def _recurrent(neuron, n, rng, scale=0.4):
    """snnTorch's export of a recurrent neuron: a subgraph with a Linear feedback cycle."""
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([n])), "lif": neuron,
                               "w_rec": nir.Linear(weight=rng.normal(0, scale, (n, n)).astype(np.float32)),
                               "output": nir.Output(np.array([n]))},
                        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])


def _chain(features, *stages, metadata=None, type_check=True, classes=None, output=None):
    nodes = {"input": nir.Input(np.array(features))}
    edges, previous = [], "input"
    for name, node in stages:
        nodes[name] = node
        edges.append((previous, name))
        previous = name
    nodes["output"] = nir.Output(np.array(output or [classes or _width(stages[-1][1])]))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT} if metadata is None else metadata,
                        type_check=type_check)


def _conv(out, inp, kernel, rng, input_shape=None, groups=1, bias=True, **geometry):
    """A Conv2d as PyTorch's ``nn.Conv2d`` exports: weight (out, in / groups, kh, kw), bias (out,)."""
    fan_in = inp // groups * kernel[0] * kernel[1]
    weight = rng.normal(0.1, 1.5 / np.sqrt(fan_in), (out, inp // groups, *kernel)).astype(np.float32)
    geometry = {"stride": 1, "padding": 0, "dilation": 1, **geometry}
    return nir.Conv2d(input_shape=input_shape, weight=weight, groups=groups, **geometry,
                      bias=rng.normal(0, 0.1, out).astype(np.float32) if bias else np.zeros(out, np.float32))


SNNTORCH_DT = 1e-4  # the time step snnTorch's export_to_nir assumes (and does not record)


def _scalar_lif(rng):
    """snnTorch's export of ``snn.Leaky(beta)``: 0-d parameters (tau = dt / (1 - beta), r = tau / dt)."""
    tau = SNNTORCH_DT / (1 - rng.uniform(0.6, 0.9))
    return nir.LIF(tau=np.array(tau), r=np.array(tau / SNNTORCH_DT), v_leak=np.array(0.0), v_threshold=np.array(1.0))


def _width(node):
    if isinstance(node, nir.NIRGraph):
        return int(np.prod(node.nodes["output"].output_type["output"]))
    return int(np.prod(node.output_type["output"]))


def graphs():
    rng = np.random.default_rng(0)
    top_cycle = _chain([12], ("fc", _affine(9, 12, rng)), ("lif", _lif(9, rng)), ("fc2", _affine(5, 9, rng)),
                       ("lif2", _lif(5, rng)))
    top_cycle.nodes["w_rec"] = nir.Linear(weight=rng.normal(0, 0.5, (9, 9)).astype(np.float32))
    top_cycle.edges += [("lif", "w_rec"), ("w_rec", "lif")]
    other = np.random.default_rng(1)
    skip = _chain([10], ("fc1", _affine(8, 10, other)), ("lif1", _lif(8, other)), ("fc2", _affine(6, 8, other)),
                  ("lif2", _lif(6, other)))
    skip.nodes["skip"] = nir.Linear(other.normal(0.1, 0.3, (6, 10)).astype(np.float32))
    skip.nodes["self"] = nir.Scale(np.full(6, -0.5))
    skip.edges += [("input", "skip"), ("skip", "lif2"), ("lif2", "self"), ("self", "lif2"), ("lif1", "lif1")]
    conv = np.random.default_rng(2)
    rec_conv = nir.NIRGraph(  # a recurrent convolutional neuron: the cycle is a Conv2d
        nodes={"input": nir.Input(np.array([3, 6, 6])), "lif": _lif(108, conv, shape=(3, 6, 6)),
               "w_rec": _conv(3, 3, (3, 3), conv, input_shape=(6, 6), padding=1, bias=False),
               "output": nir.Output(np.array([3, 6, 6]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    return {
        # Norse / NIR-typed: every parameter of the neuron's shape (C, H, W), Conv2d input_shape recorded
        "conv_sumpool_flatten_affine": _chain(
            [2, 10, 10], ("conv1", _conv(4, 2, (3, 3), conv, input_shape=(10, 10), padding=1)),
            ("lif1", _lif(400, conv, shape=(4, 10, 10))),
            ("pool1", nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0]))),
            ("conv2", _conv(6, 4, (3, 3), conv, input_shape=(5, 5), stride=2, padding=1)),
            ("lif2", _lif(54, conv, shape=(6, 3, 3))),
            ("flat", nir.Flatten(input_type={"input": np.array([6, 3, 3])}, start_dim=0)),
            ("fc", _affine(5, 54, conv, mean=0.0)), ("lif3", _lif(5, conv))),
        "conv_groups_dilation_overlapping_avgpool": _chain(
            [4, 9, 9], ("conv", _conv(6, 4, (3, 3), conv, input_shape=(9, 9), groups=2, dilation=2, padding=2)),
            ("lif1", _lif(486, conv, shape=(6, 9, 9))),
            ("pool", nir.AvgPool2d(np.array([3, 3]), np.array([2, 2]), np.array([1, 1]))),
            ("flat", nir.Flatten(input_type={"input": np.array([6, 5, 5])}, start_dim=1)),  # (6, 25)
            ("fc", _affine(4, 150, conv, bias=True, mean=0.0)), ("lif2", _lif(4, conv)),
            type_check=False),  # nir's type inference takes weight.shape[1] for the input channels, ignoring groups
        "conv_same_even_kernel_recurrent_conv_image_output": _chain(
            [1, 6, 6], ("conv", _conv(3, 1, (2, 2), conv, input_shape=(6, 6), padding="same")),
            ("rlif", rec_conv), output=[3, 6, 6]),
        "skip_connection_and_self_loops": skip,
        "feedforward_lif": _chain([20], ("fc1", _affine(16, 20, rng)), ("lif1", _lif(16, rng)),
                                  ("fc2", _affine(6, 16, rng)), ("lif2", _lif(6, rng))),
        "reset_and_leak_variants": _chain([10], ("fc1", _affine(8, 10, rng, bias=True)),
                                          ("lif1", _lif(8, rng, v_reset=-0.3, v_leak=0.2)),
                                          ("fc2", _affine(7, 8, rng)), ("if2", nir.IF(
                                              r=rng.uniform(800, 1600, 7), v_threshold=rng.uniform(0.5, 1.0, 7),
                                              v_reset=np.full(7, 0.25)))),
        "shapes_flatten_scale_cuba": _chain([2, 4, 4], ("scale", nir.Scale(rng.uniform(0.5, 1.5, (2, 4, 4)))),
                                            ("lif", _lif(32, rng, shape=(2, 4, 4))),
                                            ("flat", nir.Flatten(input_type={"input": np.array([2, 4, 4])},
                                                                 start_dim=0)),
                                            ("fc", nir.Linear(rng.normal(0.0, 0.4, (10, 32)).astype(np.float32))),
                                            ("cuba", _cuba(10, rng))),
        "recurrent_subgraphs": _chain([15], ("fc1", _affine(12, 15, rng)),
                                      ("rlif1", _recurrent(_lif(12, rng), 12, rng)),
                                      ("fc2", _affine(8, 12, rng)), ("rcuba", _recurrent(_cuba(8, rng), 8, rng))),
        "cycle_at_top_level": top_cycle,
        "li_readout": _chain([10], ("fc1", _affine(12, 10, rng)), ("lif1", _lif(12, rng)),
                             ("fc2", _affine(4, 12, rng, bias=True)),
                             ("li", nir.LI(tau=rng.uniform(5e-3, 1e-2, 4), r=np.ones(4), v_leak=np.zeros(4)))),
        "threshold_on_integrators": _chain([6], ("fc1", _affine(5, 6, rng)), ("i", nir.I(r=rng.uniform(50, 150, 5))),
                                           ("cubali", _cuba(5, rng, spiking=False)),
                                           ("spike", nir.Threshold(rng.uniform(0.5, 2.0, 5)))),
        "affine_readout": _chain([8], ("fc1", _affine(10, 8, rng)), ("lif1", _lif(10, rng)),
                                 ("fc2", _affine(3, 10, rng, bias=True))),
        "scalar_parameters": _chain([8], ("fc1", _affine(6, 8, rng)), ("lif1", nir.LIF(
            tau=np.array([5e-3]), r=np.array([5.0]), v_leak=np.array([0.0]), v_threshold=np.array([0.8]))),
            type_check=False, classes=6),
    }


GRAPHS = graphs()


def _written(tmp_path, graph, name="graph.nir"):
    path = tmp_path / name
    nir.write(path, graph)
    return path


def _spikes(features, rng, n=24, t=30, p=0.35):
    return (rng.random((n, t, features)) < p).astype(np.float32)


def _compare(tmp_path, graph):
    """Import the written ``graph``, roll it and the interpreter over random spikes; return both."""
    path = _written(tmp_path, graph)
    imported = import_nir(path, tmp_path / "onnx")
    x = _spikes(imported.info.features, np.random.default_rng(1))
    result = run(imported.path, x)
    outputs, states = nir_reference.run(nir.read(path, type_check=False), x, DT)
    return imported, result, outputs, states


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_import_matches_the_numpy_interpreter(tmp_path, name):
    imported, result, outputs, states = _compare(tmp_path, GRAPHS[name])
    expected = outputs["output"].reshape(*outputs["output"].shape[:2], -1)  # `spikes` is [B, C]: images flattened
    got = output_spikes(result)
    assert got.shape == expected.shape
    if set(np.unique(expected)) <= {0.0, 1.0}:
        agreement = float(np.mean(got == expected))
        assert agreement >= 0.9999, agreement
        assert expected.mean() > 0.02, "the graph should spike"
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    for state in imported.info.states:
        if state.kind.startswith("feedback"):
            continue
        node = imported.info.layers[state.layer].fields["node"]
        np.testing.assert_allclose(result.states[state.input], states[node][state.kind], rtol=1e-4, atol=1e-4,
                                   err_msg=f"{name}: {state.input} ({node})")


def _snntorch_conv_graph(rng):
    """A graph laid out as snnTorch's ``export_to_nir`` writes ``Conv2d -> Leaky -> AvgPool2d -> Conv2d -> Leaky ->
    Flatten -> Linear -> Leaky``: Conv2d without input_shape, 0-d neuron parameters, Flatten without input_type,
    AvgPool2d padding (0, 0), no dt recorded (snnTorch discretises at 1e-4 s). nir cannot type-check (the neurons
    have no shape) nor write it (input_shape None), so it is imported from memory."""
    return _chain([1, 12, 12], ("conv1", _conv(4, 1, (5, 5), rng, padding=(2, 2))), ("lif1", _scalar_lif(rng)),
                  ("pool1", nir.AvgPool2d(kernel_size=2, stride=2, padding=(0, 0))),
                  ("conv2", _conv(6, 4, (3, 3), rng, padding=(0, 0))), ("lif2", _scalar_lif(rng)),
                  ("flat", nir.Flatten(input_type=None, start_dim=0, end_dim=-1)),
                  ("fc", _affine(5, 96, rng, bias=True, mean=0.0)), ("lif3", _scalar_lif(rng)),
                  metadata={}, type_check=False, classes=5)


def test_snntorch_style_conv_graph_matches_the_interpreter_with_full_state_shapes():
    graph, dt = _snntorch_conv_graph(np.random.default_rng(5)), SNNTORCH_DT
    with pytest.raises(ConfigurationError, match="--dt"):
        import_graph(graph)
    model = import_graph(graph, dt=dt)
    info = load_model(model.SerializeToString()).info
    assert info.input.shape == (1, 12, 12)
    assert [(l.kind, l.output_shape, l.fields["node"]) for l in info.layers] == [
        ("lif", (4, 12, 12), "lif1"), ("lif", (6, 4, 4), "lif2"), ("lif", (5,), "lif3")]
    assert [(s.input, s.shape) for s in info.states] == [("l0_v", (4, 12, 12)), ("l1_v", (6, 4, 4)), ("l2_v", (5,))]
    x = _spikes(144, np.random.default_rng(5))
    result = rollout(Engine(model.SerializeToString(), SessionSettings("cpu", threads=1)), x)
    outputs, states = nir_reference.run(graph, x, dt)
    for neuron in ("lif1", "lif2", "lif3"):
        assert outputs[neuron].mean() > 0.02, f"{neuron} should spike"
    assert np.mean(output_spikes(result) == outputs["output"]) >= 0.9999
    for state in info.states:
        np.testing.assert_allclose(result.states[state.input], states[info.layers[state.layer].fields["node"]]["v"],
                                   rtol=1e-4, atol=1e-4, err_msg=state.input)


def test_conv_graphs_stream_images_channels_first(tmp_path):
    imported = import_nir(_written(tmp_path, GRAPHS["conv_sumpool_flatten_affine"]), tmp_path / "onnx")
    x = _spikes(200, np.random.default_rng(6), n=3, t=8).reshape(3, 8, 2, 10, 10)
    session = StreamingSession(str(imported.path), threads=1)
    assert session.input_shape == (2, 10, 10)
    streams = session.open(3)
    stepped = np.stack([session.step(x[:, t], streams) for t in range(8)], axis=1)
    np.testing.assert_array_equal(stepped, output_spikes(run(imported.path, x)))
    flat = session.open(3)  # each step's image flattened (C order) is the same input
    np.testing.assert_array_equal(np.stack([session.step(x[:, t].reshape(3, -1), flat) for t in range(8)], axis=1),
                                  stepped)


def test_recurrent_state_pairs_follow_the_naming_contract(tmp_path):
    info = import_nir(_written(tmp_path, GRAPHS["recurrent_subgraphs"]), tmp_path / "onnx").info
    assert info.format == "nir" and info.graph == "step" and info.encoding is None
    assert [(l.kind, l.units, l.fields["node"]) for l in info.layers] == [("lif", 12, "rlif1.lif"),
                                                                          ("cubalif", 8, "rcuba.lif")]
    assert [(s.layer, s.kind, s.input, s.output) for s in info.states] == [
        (0, "v", "l0_v", "l0_v_next"), (1, "i", "l1_i", "l1_i_next"), (1, "v", "l1_v", "l1_v_next"),
        (0, "feedback", "l0_feedback", "l0_feedback_next"), (1, "feedback", "l1_feedback", "l1_feedback_next")]
    assert info.source["dt"] == DT and info.source["discretisation"] == "forward-euler"


def test_output_layer_is_last_and_stateless_readouts_get_an_output_layer(tmp_path):
    readout = import_graph(GRAPHS["affine_readout"])
    info = load_model(readout.SerializeToString()).info
    assert [l.kind for l in info.layers] == ["lif", "output"] and info.classes == 3
    assert not [s for s in info.states if s.layer == 1]
    top = load_model(import_graph(GRAPHS["cycle_at_top_level"]).SerializeToString()).info
    assert [l.fields["node"] for l in top.layers] == ["lif", "lif2"]


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_imports_emit_only_the_operators_the_runtime_allows_for_nir(name):
    model = import_graph(GRAPHS[name])
    ops = {op for _, op in used_operators(model)}
    assert ops <= ALLOWED["nir"], ops - ALLOWED["nir"]


def test_lif_with_unit_gain_and_no_leak_emits_no_extra_nodes():
    rng = np.random.default_rng(3)
    n = 4
    tau = np.full(n, DT / (1 - 0.8))
    graph = _chain([3], ("fc", _affine(n, 3, rng)), ("lif", nir.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(n),
                                                                     v_threshold=np.ones(n))))
    ops = [node.op_type for node in import_graph(graph).graph.node]
    assert ops == ["MatMul", "Mul", "Add", "Greater", "Where", "Cast", "Identity"]


def test_imported_graph_streams_like_any_snudeploy_model(tmp_path):
    imported = import_nir(_written(tmp_path, GRAPHS["recurrent_subgraphs"]), tmp_path / "onnx")
    x = _spikes(imported.info.features, np.random.default_rng(2), n=5, t=12)
    whole = output_spikes(run(imported.path, x))
    session = StreamingSession(str(imported.path), threads=1)
    streams = session.open(5)
    stepped = np.stack([session.step(x[:, t], streams) for t in range(x.shape[1])], axis=1)
    np.testing.assert_array_equal(stepped, whole)
    np.testing.assert_allclose(session.run(x), whole.mean(axis=1))


def test_dt_comes_from_the_argument_or_the_graph(tmp_path):
    graph = GRAPHS["feedforward_lif"]
    recorded = load_model(import_graph(graph).SerializeToString()).info
    override = load_model(import_graph(graph, dt=2e-3).SerializeToString()).info
    assert recorded.source["dt"] == DT and override.source["dt"] == 2e-3
    bare = _chain([4], ("fc", _affine(3, 4, RNG)), ("lif", _lif(3, RNG)), metadata={})
    with pytest.raises(ConfigurationError, match="records no time step.*--dt"):
        import_graph(bare)
    assert load_model(import_graph(bare, dt=DT).SerializeToString()).info.source["dt"] == DT
    with pytest.raises(ConfigurationError, match="dt"):
        import_graph(bare, dt=0.0)
    foreign = _chain([4], ("fc", _affine(3, 4, RNG)), ("lif", _lif(3, RNG)),
                     metadata={"dt": DT, "discretisation": "exponential"})
    with pytest.raises(ConfigurationError, match="forward-euler"):
        import_graph(foreign)
    broken = _chain([4], ("fc", _affine(3, 4, RNG)), ("lif", _lif(3, RNG)), metadata={"dt": -1.0})
    with pytest.raises(ModelFileError, match="dt"):
        import_graph(broken)


def test_a_recorded_rate_encoding_and_dataset_reach_the_onnx_metadata(tmp_path):
    from snudeploy.encoding import Encoding

    recorded = {"dt": DT, "dataset": "digits", "encoding": Encoding(20, 15.0, 0).to_dict()}
    graph = _chain([4], ("fc", _affine(3, 4, RNG)), ("lif", _lif(3, RNG)), metadata=recorded)
    info = import_nir(_written(tmp_path, graph), tmp_path / "onnx").info
    assert info.encoding == Encoding(20, 15.0, 0) and info.dataset == "digits"
    broken = _chain([4], ("fc", _affine(3, 4, RNG)), ("lif", _lif(3, RNG)),
                    metadata={"dt": DT, "encoding": {"timesteps": 0}})
    with pytest.raises(ModelFileError, match="invalid encoding"):
        import_graph(broken)


def _edited(path, node, drop, retype=None):
    """``path`` with dataset ``drop`` of stored node ``node`` removed (and its type set to ``retype``)."""
    import h5py

    with h5py.File(path, "r+") as f:
        del f[f"node/nodes/{node}/{drop}"]
        if retype:
            f[f"node/nodes/{node}"].create_dataset("type", data=retype)
    return path


def _bad_files(tmp_path):
    rng = np.random.default_rng(5)
    plain = _chain([4], ("fc", _affine(3, 4, rng)), ("lif", _lif(3, rng)))
    (tmp_path / "text.nir").write_text("not a graph")
    import h5py

    with h5py.File(tmp_path / "empty.nir", "w") as f:
        f.create_dataset("version", data="1.0")
    mismatch = _chain([4], ("fc", _affine(3, 4, rng)), ("lif", _lif(5, rng)), type_check=False)
    conv1d = _chain([1, 8], ("conv", nir.Conv1d(input_shape=8, weight=np.ones((2, 1, 3)), stride=1, padding=0,
                                                dilation=1, groups=1, bias=np.zeros(2))),
                    ("lif", _lif(12, rng, shape=(2, 6))), type_check=False)
    strided_same = _chain([1, 8, 8], ("conv", _conv(2, 1, (3, 3), rng, input_shape=(8, 8), stride=2, padding="same")),
                          ("lif", _lif(128, rng, shape=(2, 8, 8))), output=[2, 8, 8])
    pooled_vector = _chain([16], ("pool", nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0]))),
                           ("lif", _lif(4, rng)), type_check=False, classes=4)
    too_small = _chain([1, 2, 2], ("conv", _conv(2, 1, (3, 3), rng, input_shape=(2, 2))),
                       ("lif", _lif(2, rng, shape=(2, 1, 1))), type_check=False)
    huge = _chain([1, 2048, 1024], ("lif", _lif(4, rng)), type_check=False, classes=4)
    delay = _chain([3], ("delay", nir.Delay(np.ones(3))), ("lif", _lif(3, rng)))
    no_neuron = _chain([4], ("fc", _affine(3, 4, rng)))
    nan = _chain([4], ("fc", _affine(3, 4, rng)), ("lif", nir.LIF(tau=np.full(3, np.nan), r=np.ones(3),
                                                                   v_leak=np.zeros(3), v_threshold=np.ones(3))))
    two_inputs = _chain([4], ("fc", _affine(3, 4, rng)), ("lif", _lif(3, rng)))
    two_inputs.nodes["input2"] = nir.Input(np.array([3]))
    two_inputs.edges.append(("input2", "lif"))
    return {
        "missing": (tmp_path / "missing.nir", "does not exist"),
        "not_hdf5": (tmp_path / "text.nir", "not HDF5"),
        "hdf5_without_graph": (tmp_path / "empty.nir", "not a NIR graph"),
        "unknown_node_type": (_edited(_written(tmp_path, plain, "unknown.nir"), "lif", "type", b"Dendrite"),
                              "node 'lif' has unknown node type 'Dendrite'"),
        "missing_parameter": (_edited(_written(tmp_path, plain, "no_tau.nir"), "lif", "tau"),
                              r"node 'lif' \(LIF\) is missing parameter\(s\) tau"),
        "shape_mismatch": (_written(tmp_path, mismatch, "mismatch.nir"),
                           "Shape mismatch along edge fc -> lif: fc gives 3 values, lif .LIF. takes 5"),
        "conv1d": (_written(tmp_path, conv1d, "conv1d.nir"), "node 'conv' is a Conv1d, which snudeploy does not"),
        "same_padding_with_stride": (_written(tmp_path, strided_same, "same.nir"),
                                     r"padding 'same' with stride \[2, 2\] is not defined"),
        "pooling_a_vector": (_written(tmp_path, pooled_vector, "pool.nir"),
                             r"takes \(channels, height, width\) and records no input_shape; it has an input of "
                             r"shape \[16\]"),
        "window_larger_than_input": (_written(tmp_path, too_small, "small.nir"),
                                     r"a \[3, 3\] window .* does not fit an input of shape \[1, 2, 2\]"),
        "huge_tensor": (_written(tmp_path, huge, "huge.nir"), "snudeploy streams tensors of at most 1,048,576"),
        "delay": (_written(tmp_path, delay, "delay.nir"), "node 'delay' is a Delay"),
        "no_neuron": (_written(tmp_path, no_neuron, "affine.nir"), "no neuron node"),
        "nan_parameter": (_written(tmp_path, nan, "nan.nir"), "tau holds NaN"),
        "two_inputs": (_written(tmp_path, two_inputs, "two.nir"), "2 Input node"),
    }


BAD = ("missing", "not_hdf5", "hdf5_without_graph", "unknown_node_type", "missing_parameter", "shape_mismatch",
       "conv1d", "same_padding_with_stride", "pooling_a_vector", "window_larger_than_input", "huge_tensor", "delay",
       "no_neuron", "nan_parameter", "two_inputs")


@pytest.mark.parametrize("case", BAD)
def test_bad_files_are_one_clear_error_each(tmp_path, case):
    path, message = _bad_files(tmp_path)[case]
    with pytest.raises(ModelFileError, match=message):
        import_graph(read(path))


def test_cli_import_writes_the_step_graph_and_prints_its_layers(tmp_path):
    path = _written(tmp_path, GRAPHS["recurrent_subgraphs"])
    result = CliRunner().invoke(cli, ["import-nir", str(path), "--out", str(tmp_path / "o"), "--json",
                                      str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert "rlif1.lif" in result.stdout and "v, feedback" in result.stdout and "dt = 0.001 s" in result.stdout
    assert (tmp_path / "o" / "step.onnx").is_file() and (tmp_path / "s.json").is_file()


def test_cli_bad_files_exit_2_with_one_line_and_write_nothing(tmp_path):
    runner = CliRunner()
    for case, (path, message) in _bad_files(tmp_path).items():
        out = tmp_path / f"out-{case}"
        result = runner.invoke(cli, ["import-nir", str(path), "--out", str(out)])
        assert result.exit_code == 2, (case, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), (case, result.stderr)
        assert not out.exists(), case


def test_cli_import_of_a_conv_graph_prints_nir_shapes(tmp_path):
    path = _written(tmp_path, GRAPHS["conv_sumpool_flatten_affine"])
    result = CliRunner().invoke(cli, ["import-nir", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("|")][2:]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["0", "lif1", "lif", "400", "4x10x10", "v"], ["1", "lif2", "lif", "54", "6x3x3", "v"],
        ["2", "lif3", "lif", "5", "5", "v"]]
    assert "step.onnx: 2x10x10 inputs -> 5 outputs" in result.stdout


def test_cli_dt_is_required_when_the_graph_records_none(tmp_path):
    bare = _written(tmp_path, _chain([4], ("fc", _affine(3, 4, RNG)), ("lif", _lif(3, RNG)), metadata={}))
    runner = CliRunner()
    result = runner.invoke(cli, ["import-nir", str(bare), "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "--dt SECONDS" in result.stderr and not (tmp_path / "a").exists()
    result = runner.invoke(cli, ["import-nir", str(bare), "--out", str(tmp_path / "b"), "--dt", "0.002"])
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "b" / "step.onnx").info.source["dt"] == 0.002


def test_reading_without_the_nir_extra_names_the_extra(tmp_path, monkeypatch):
    from snudeploy import extras

    monkeypatch.setattr(extras, "installed", lambda module: module != "nir")
    with pytest.raises(MissingExtraError, match=r"\[nir\] extra"):
        read(tmp_path / "graph.nir")


def test_the_base_runtime_and_the_converters_do_not_import_nir():
    code = ("import sys, snudeploy.runtime, snudeploy.converters, snudeploy.cli.main; "
            "sys.exit(1 if {'nir', 'h5py'} & set(sys.modules) else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
