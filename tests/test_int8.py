"""int8 graphs without training: the same bits on every CPU, by construction (only ops no kernel
can change, checked structurally) and by measurement (ONNX Runtime at every optimization level,
and 1,000 streamed steps, against onnx.reference); and the errors that keep non-spiking networks
and inputs out of int8."""

import json

import numpy as np
import onnx
import pytest
from snu_models import int8_model_bytes, model_bytes, snu_layers, spikes

from snudeploy.errors import ConfigurationError, InputValueError
from snudeploy.quantization import int8
from snudeploy.runtime import Engine, ReferenceEngine, SessionSettings, StreamingSession, rollout
from snudeploy.runtime.providers import OPTIMIZATION_LEVELS

GRAPHS = pytest.mark.parametrize("graph", ["step", "sequence"])
PER_CHANNEL = pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
VARIANTS = pytest.mark.parametrize(
    "variant", [{}, {"recurrent": True}, {"lateral_inhibition": True}, {"g": "identity"},
                {"recurrent": True, "lateral_inhibition": True, "g": "relu"}],
    ids=["basic", "recurrent", "lateral", "identity", "recurrent-lateral-relu"])


def nodes_everywhere(model: onnx.ModelProto):
    """Every node of ``model``: its graph, every subgraph (Scan bodies) and every function."""
    def walk(nodes):
        for node in nodes:
            yield node
            for attribute in node.attribute:
                for body in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs:
                    yield from walk(body.node)
    yield from walk(model.graph.node)
    for function in model.functions:
        yield from walk(function.node)


@GRAPHS
@PER_CHANNEL
@VARIANTS
def test_int8_graphs_hold_only_ops_that_no_cpu_can_change(graph, per_channel, variant):
    """The CPU-independent guarantee: no float MatMul/Gemm/Conv anywhere, reductions over spikes only."""
    layers = snu_layers([16, 12, 4], **variant)
    model = onnx.load_model_from_string(int8_model_bytes(layers, graph, per_channel))
    ops = [n.op_type for n in nodes_everywhere(model)]
    assert set(ops) <= set(int8.EXACT_OPS) and not {"MatMul", "Gemm", "Conv"} & set(ops), ops
    assert ops.count("MatMulInteger") == len(layers.layers) * (2 if variant.get("recurrent") else 1)
    assert int8.cpu_dependent_nodes(model) == []


def test_the_structural_check_names_what_a_cpu_could_change():
    recurrent = snu_layers([16, 12, 4], recurrent=True)
    float_sequence = int8.inline_functions(onnx.load_model_from_string(model_bytes(recurrent, "sequence")))
    problems = int8.cpu_dependent_nodes(float_sequence)
    assert len(problems) == 4 and sum("body: MatMul" in p for p in problems) == 2, problems  # y_prev H in the Scan

    lateral = onnx.load_model_from_string(int8_model_bytes(snu_layers([16, 12, 4], lateral_inhibition=True), "step"))
    reduce_max = next(n for n in lateral.graph.node if n.op_type == "ReduceMax")
    reduce_max.input[0] = "l0_s"  # a maximum of membrane potentials, not of spikes
    cast = next(n for n in lateral.graph.node if n.op_type == "Cast" and n.input[0] == "l0_y_next")
    cast.input[0] = "l0_s_next"  # uint8 of potentials into the next layer's MatMulInteger
    problems = int8.cpu_dependent_nodes(lateral)
    assert any("ReduceMax" in p and "not spikes" in p for p in problems), problems
    assert any("MatMulInteger" in p and "uint8 operand" in p for p in problems), problems

    gemm = onnx.load_model_from_string(model_bytes(snu_layers([16, 12, 4]), format="step"))
    next(n for n in reversed(gemm.graph.node) if n.op_type == "MatMul").op_type = "Gemm"  # not quantized: refused
    with pytest.raises(ConfigurationError, match="different bits on different CPUs: Gemm"):
        int8.quantize_graph(gemm, per_channel=True)


@GRAPHS
@PER_CHANNEL
@VARIANTS
def test_onnx_runtime_equals_the_exact_reference_bit_for_bit(graph, per_channel, variant):
    layers = snu_layers([64, 48, 32, 10], seed=3, **variant)
    payload = int8_model_bytes(layers, graph, per_channel)
    x = spikes(np.random.default_rng(0), (24, 12, 64))
    exact = rollout(ReferenceEngine(payload), x)
    for level in OPTIMIZATION_LEVELS:  # graph fusions must not change a bit either
        ours = rollout(Engine(payload, SessionSettings(optimization=level)), x)
        for layer, value in exact.spikes.items():
            np.testing.assert_array_equal(ours.spikes[layer], value, err_msg=level)
        for key, value in exact.states.items():
            np.testing.assert_array_equal(ours.states[key], value, err_msg=level)


def test_a_thousand_streamed_steps_of_a_recurrent_int8_network_are_the_same_bits_everywhere():
    """1,000 steps: the step graph streamed (StreamingSession.step), the sequence graph in chunks of
    random sizes with states carried (Engine.sequence), and onnx.reference on both graphs; spikes at
    every step and every state at every chunk boundary, bit for bit."""
    layers = snu_layers([16, 12, 8, 4], seed=5, recurrent=True)
    step, sequence = (int8_model_bytes(layers, graph) for graph in ("step", "sequence"))
    rng = np.random.default_rng(7)
    x = spikes(rng, (3, 1000, 16))
    cuts = np.cumsum(rng.integers(1, 80, 60))
    cuts = [0, *cuts[cuts < 1000].tolist(), 1000]
    session, exact_step = StreamingSession(step), ReferenceEngine(step)
    streams = session.open(3)
    runners = {"sequence": Engine(sequence), "exact sequence": ReferenceEngine(sequence)}
    states = {name: exact_step.zeros(3) for name in ("exact step", *runners)}
    fired = []
    for start, end in zip(cuts[:-1], cuts[1:]):
        exact = []
        for t in range(start, end):
            out, states["exact step"] = exact_step.step(x[:, t].astype(np.float32), states["exact step"])
            np.testing.assert_array_equal(session.step(x[:, t]), out, err_msg=f"step {t}")
            exact.append(out)
        exact = np.stack(exact, axis=1)
        for name, runner in runners.items():
            out, _, states[name] = runner.sequence(x[:, start:end].astype(np.float32), states[name])
            np.testing.assert_array_equal(out, exact, err_msg=f"{name}, steps {start}..{end}")
        streamed = [session.snapshot(s).states for s in streams]
        for key, value in states["exact step"].items():
            np.testing.assert_array_equal(np.stack([snap[key] for snap in streamed]), value, err_msg=key)
            for name in runners:
                np.testing.assert_array_equal(states[name][key], value, err_msg=f"{name} {key} at step {end}")
        fired.append([states["exact step"][f"l{i}_y"].mean() for i in range(len(layers.layers))])
    assert len(cuts) > 20 and 0.05 < np.mean(fired) < 0.95 and np.min(np.mean(fired, axis=0)) > 0  # every layer spikes


def test_weights_are_int8_on_the_symmetric_grid():
    kernel = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    q, scales = int8.quantize_weights(kernel, per_channel=True)
    assert q.dtype == np.int8 and np.abs(q).max(axis=0).tolist() == [127] * 6
    np.testing.assert_allclose(scales, np.abs(kernel).max(axis=0) / 127, rtol=1e-6)
    assert np.abs(q * scales - kernel).max() <= scales.max() / 2 + 1e-7
    q, scale = int8.quantize_weights(kernel, per_channel=False)
    assert scale.shape == () and np.isclose(scale, np.abs(kernel).max() / 127)


def test_graph_multiplies_integers_and_keeps_the_rest_float():
    model = onnx.load_model_from_string(int8_model_bytes(snu_layers([16, 12, 4]), "step"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("MatMulInteger") == 2 and "MatMul" not in ops
    assert {"Greater", "LeakyRelu", "Sub"} <= set(ops)
    assert int8.int8_weight_fraction(model) > 0.5  # tiny layers: thresholds and scales weigh in


@pytest.mark.parametrize("graph", ["step", "sequence"])
def test_quantizing_leaves_the_float_model_as_it_was(graph):
    float_model = int8.inline_functions(onnx.load_model_from_string(model_bytes(snu_layers([16, 12, 4]), graph)))
    assert not float_model.functions  # as the step and unrolled exports are
    before = float_model.SerializeToString()
    int8.quantize_graph(float_model, per_channel=True)
    assert float_model.SerializeToString() == before


def test_int8_models_take_spikes_only():
    session = StreamingSession(int8_model_bytes(snu_layers([16, 12, 4]), "step"))
    session.open(2)
    session.step(np.ones((2, 16), np.uint8))
    session.step(np.full((2, 16), 2.0))  # whole numbers up to 128 are exact through the Cast to uint8
    session.step(np.full((2, 16), 128, np.uint8))
    before = session.snapshot(0).states
    for bad in (0.5, -1.0, 129.0, 256.0):
        with pytest.raises(InputValueError, match="spikes only"):
            session.step(np.full((2, 16), bad))
        with pytest.raises(InputValueError, match="spikes only"):
            session.run(np.full((1, 3, 16), bad))
    for dtype in (np.uint8, np.int32):  # 129..255 fit uint8, but pairs of products could saturate AVX2's int16
        with pytest.raises(InputValueError, match="up to 128"):
            session.step(np.full((2, 16), 200, dtype))
        with pytest.raises(InputValueError, match="up to 128"):
            session.run(np.full((1, 3, 16), 200, dtype))
    for key, value in session.snapshot(0).states.items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.train
@pytest.mark.parametrize("recurrent", [False, True], ids=["basic", "recurrent"])
def test_ptq_of_a_checkpoint_writes_exact_int8_files(random_digits_checkpoint, recurrent, tmp_path, monkeypatch):
    from checkpoints import random_checkpoint
    from snudeploy.quantization import quantize

    checkpoint = random_checkpoint(tmp_path / "recurrent", recurrent=True) if recurrent else random_digits_checkpoint
    report = quantize(checkpoint, "ptq", tmp_path / "out", test_samples=64)
    for name in ("step", "customop"):
        graph = report["graphs"][name]
        assert graph["exact_reference"]["spikes_equal"] and graph["exact_reference"]["states_equal"]
        assert graph["size_ratio"] > 1.5 and graph["prediction_agreement"] > 0.8  # small layers: ~1.8x; 784-250 ~3.9x
        assert int8.cpu_dependent_nodes(onnx.load(str(tmp_path / "out" / f"{name}.int8.onnx"))) == []
    on_disk = json.loads((tmp_path / "out" / "quantization.json").read_text())
    assert on_disk["method"] == "ptq" and set(on_disk["graphs"]) == {"step", "customop"}
    if recurrent:  # the figures over blocks of samples (24 + 24 + 16) are those of one block of 64
        import importlib

        from snudeploy import datasets
        from snudeploy.quantization import report as figures
        from snudeploy.spec import ModelSpec

        engines = [Engine(str(tmp_path / "out" / f)) for f in ("float/step.onnx", "step.int8.onnx")]
        spikes = ModelSpec.load(checkpoint).encoding.encode(datasets.load("digits")[2][:64], "test")
        labels = datasets.load("digits")[3][:64]
        whole = figures.compare(*engines, spikes, labels)
        monkeypatch.setattr(importlib.import_module("snudeploy.runtime.rollout"), "BLOCK", 24)
        assert figures.compare(*engines, spikes, labels) == whole and whole["test_samples"] == 64


@pytest.mark.train
def test_soft_snu_is_refused(tmp_path):
    from checkpoints import random_checkpoint
    from snudeploy.quantization import quantize

    ckpt = random_checkpoint(tmp_path / "ssnu", cell="ssnu")
    with pytest.raises(ConfigurationError, match="soft sSNU"):
        quantize(ckpt, "ptq", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("graph", ["step", "sequence"])
def test_conv_networks_get_integer_convolutions_exact_against_the_reference(graph):
    from snu_models import conv_network

    network = conv_network((9, 10, 2), 3, pool="sum_pool2d")
    payload = int8_model_bytes(network, graph)
    model = onnx.load_model_from_string(payload)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("ConvInteger") == 2 and ops.count("MatMulInteger") == 1 and "Conv" not in ops
    assert int8.cpu_dependent_nodes(model) == []
    x = spikes(np.random.default_rng(0), (4, 6, 9, 10, 2), p=0.4)
    ours, exact = rollout(Engine(payload), x), rollout(ReferenceEngine(payload), x)
    for key, value in exact.states.items():
        np.testing.assert_array_equal(ours.states[key], value)
    for layer, value in exact.spikes.items():
        np.testing.assert_array_equal(ours.spikes[layer], value)


def test_average_pooling_has_no_int8_graph():
    from snu_models import conv_network

    with pytest.raises(ConfigurationError, match="different CPUs: Div .* its uint8 operand is not"):
        int8_model_bytes(conv_network((9, 10, 2), 3, pool="avg_pool2d"), "step")


@pytest.mark.train
def test_ptq_of_a_conv_checkpoint_writes_exact_int8_files_and_refuses_average_pooling(tmp_path):
    from checkpoints import random_conv_checkpoint

    from snudeploy.quantization import quantize

    report = quantize(random_conv_checkpoint(tmp_path / "sum", (8, 8, 1)), "ptq", tmp_path / "int8", test_samples=32)
    for name in ("step", "customop"):
        graph = report["graphs"][name]
        assert graph["exact_reference"]["spikes_equal"] and graph["exact_reference"]["states_equal"]
        assert graph["size_ratio"] > 0.5  # tiny layers: the int8 graph's scales and casts weigh in
    session = StreamingSession(tmp_path / "int8" / "step.int8.onnx")
    assert session.input_shape == (8, 8, 1) and session.info.quantization.int8
    with pytest.raises(ConfigurationError, match="average pooling .layer 1.*sum_pool2d"):
        quantize(random_conv_checkpoint(tmp_path / "avg", (8, 8, 1), pool="avg_pool2d"), "ptq", tmp_path / "x")


def test_an_int8_model_restores_spike_states_only_as_spikes():
    session = StreamingSession(int8_model_bytes(snu_layers([16, 12, 4])))
    a, b = session.open(2)
    session.step(np.ones((2, 16), np.uint8))
    snap = session.snapshot(a)
    snap.states["l0_y"][0] = 0.5
    with pytest.raises(ConfigurationError, match="l0_y holds values other than 0 and 1"):
        session.restore(b, snap)
    snap.states["l0_y"][0] = 1.0
    snap.states["l0_s"][0] = 0.5  # a membrane potential may be anything finite
    session.restore(b, snap)
