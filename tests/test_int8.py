"""int8 graphs without training: integer MatMuls, bit-exact against onnx.reference on this CPU,
and the errors that keep non-spiking networks out of int8."""

import json

import numpy as np
import onnx
import pytest
from snu_models import int8_model_bytes, model_bytes, snu_layers, spikes

from snudeploy.errors import ConfigurationError, InputValueError
from snudeploy.quantization import int8
from snudeploy.runtime import Engine, ReferenceEngine, StreamingSession, rollout


@pytest.mark.parametrize("graph", ["step", "sequence"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
@pytest.mark.parametrize("variant", [{}, {"recurrent": True}, {"lateral_inhibition": True}, {"g": "identity"}],
                         ids=["basic", "recurrent", "lateral", "identity"])
def test_onnx_runtime_equals_the_exact_reference_bit_for_bit(graph, per_channel, variant):
    layers = snu_layers([64, 48, 32, 10], seed=3, **variant)
    payload = int8_model_bytes(layers, graph, per_channel)
    x = spikes(np.random.default_rng(0), (24, 12, 64))
    ours, exact = rollout(Engine(payload), x), rollout(ReferenceEngine(payload), x)
    for layer, value in exact.spikes.items():
        np.testing.assert_array_equal(ours.spikes[layer], value)
    for key, value in exact.states.items():
        np.testing.assert_array_equal(ours.states[key], value)


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
    session.step(np.full((2, 16), 2.0))  # whole numbers 0..255 are exact through the Cast to uint8
    for bad in (0.5, -1.0, 256.0):
        with pytest.raises(InputValueError, match="spikes only"):
            session.step(np.full((2, 16), bad))
        with pytest.raises(InputValueError, match="spikes only"):
            session.run(np.full((1, 3, 16), bad))
    with pytest.raises(InputValueError, match="spikes only"):
        session.step(np.full((2, 16), 300, np.int32))


@pytest.mark.train
def test_ptq_of_a_checkpoint_writes_exact_int8_files(random_digits_checkpoint, tmp_path):
    from snudeploy.quantization import quantize

    report = quantize(random_digits_checkpoint, "ptq", tmp_path, test_samples=64)
    for name in ("step", "customop"):
        graph = report["graphs"][name]
        assert graph["exact_reference"]["spikes_equal"] and graph["exact_reference"]["states_equal"]
        assert graph["size_ratio"] > 1.5 and graph["prediction_agreement"] > 0.8  # small layers: ~1.8x; 784-250 ~3.9x
        assert (tmp_path / f"{name}.int8.onnx").is_file()
    on_disk = json.loads((tmp_path / "quantization.json").read_text())
    assert on_disk["method"] == "ptq" and set(on_disk["graphs"]) == {"step", "customop"}


@pytest.mark.train
def test_soft_snu_is_refused(tmp_path):
    from checkpoints import random_checkpoint
    from snudeploy.quantization import quantize

    ckpt = random_checkpoint(tmp_path / "ssnu", cell="ssnu")
    with pytest.raises(ConfigurationError, match="soft sSNU"):
        quantize(ckpt, "ptq", tmp_path / "out")
    assert not (tmp_path / "out").exists()
