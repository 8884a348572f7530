"""Untrusted model files: every one is refused with a typed error, or runs within its time limit.

Each case builds a small valid model (``snu_models``) and breaks one thing the way a hostile
or corrupt file would: lying metadata, operators snudeploy never emits, a Loop that never
ends, a 4 TiB allocation, invalid UTF-8, weights outside the folder or not finite. Files that
break one thing on purpose are sealed again (``snu_models.reseal``), so the check under test
is reached; an unsealed edit is refused as corrupted first (``test_digest_*``).
"""

import json
import os
import stat

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from snu_models import model_bytes, reseal, snu_layers, spikes

from snudeploy import metadata
from snudeploy.errors import InferenceError, ModelFileError, RunTimeoutError, SnudeployError
from snudeploy.runtime import StreamingSession, load_model

F, C = 16, 4
LAYERS = snu_layers([F, 12, 8, C])


def with_metadata(change, graph="step", format="customop", timesteps=None) -> bytes:
    return reseal(model_bytes(LAYERS, graph, format=format, timesteps=timesteps), change)


def sealed(model: onnx.ModelProto) -> bytes:
    """``model`` (edited on purpose) sealed with its metadata, as if snudeploy had written it."""
    return reseal(model.SerializeToString(), lambda raw: None)


def set_layer(i, units):
    """Layer ``i`` has ``units`` units, consistently everywhere in the metadata (but not in the graph)."""
    def change(raw):
        raw["layers"][i].update(units=units, output_shape=[units])
        for state in raw["states"]:
            if state["layer"] == i:
                state["shape"] = [None, units]
    return change


@pytest.mark.parametrize("change, message", [
    (set_layer(0, 100), r"l0_y has shape \[\?, 12\], its metadata says \[\?, 100\]"),
    (set_layer(2, 5), r"spikes has shape \[\?, 4\], its metadata says \[\?, 5\]"),
    (lambda raw: raw["input"].update(shape=[32], features=32), r"x has shape \[\?, 16\], its metadata says \[\?, 32\]"),
    (lambda raw: raw["layers"][0].update(units=2 ** 40), "`units`, expected a positive integer up to 65,536"),
    (lambda raw: raw["layers"][0].update(units=-1), "`units`, expected a positive integer"),
    (lambda raw: raw["layers"][0].update(units="250"), "`units`"),
    (lambda raw: raw["input"].pop("shape"), "`input.shape`"),
    (lambda raw: raw.update(layers=[]), "lists no layers"),
    (lambda raw: raw.update(layers={"units": 3}), "`layers` must be a list"),
    (lambda raw: raw["states"][0].update(layer=7), "`states.layer`"),
    (lambda raw: raw["states"][1].update(input="l0_y"), "input names repeat"),
    (lambda raw: raw.update(encoding={"timesteps": 10 ** 9, "max_spikes": 1}), "`timesteps`"),
    (lambda raw: raw.update(format="mystery"), "format 'mystery', which snudeploy does not know"),
    (lambda raw: raw.update(graph="tree"), "`graph`"),
    (lambda raw: raw.update(schema_version=True), "without a valid schema version"),
    (lambda raw: raw["states"][0].update(output="l0_s_next") or raw["states"][1].update(output="l0_y_next"),
     "wired l0_y -> l0_s_next; the naming contract says l0_y -> l0_y_next"),
    (lambda raw: raw["states"][0].update(dtype="float16"), "`states.dtype`, expected one of float32"),
    (lambda raw: raw.update(quantization={"method": "ptq", "bits": 8, "arithmetic": "integer"}),
     "quantization says integer arithmetic, the graph has no integer operators"),
    (lambda raw: raw["input"].update(binary=True), "input.binary says the graph takes spikes only"),
], ids=["units", "classes", "features", "units-huge", "units-negative", "units-string", "no-shape",
        "no-layers", "layers-not-list", "state-layer", "repeated-names", "huge-T", "unknown-format", "graph",
        "bool-schema", "swapped-wiring", "state-dtype", "int8-claim", "binary-claim"])
def test_metadata_that_lies_or_is_malformed_is_refused_on_load(change, message):
    with pytest.raises(ModelFileError, match=message):
        StreamingSession(with_metadata(change))


def test_the_t_of_an_unrolled_graph_is_checked_against_the_graph():
    payload = with_metadata(lambda raw: raw.update(timesteps=7), "sequence", format="unrolled", timesteps=6)
    with pytest.raises(ModelFileError, match=r"x has shape \[\?, 6, 16\], its metadata says \[\?, 7, 16\]"):
        StreamingSession(payload)


def test_an_int8_graph_that_says_it_is_float_is_refused():
    from snu_models import int8_model_bytes

    payload = reseal(int8_model_bytes(LAYERS), lambda raw: raw.update(quantization={"method": "none"}))
    with pytest.raises(ModelFileError, match="quantization says float arithmetic, the graph has integer operators "
                                             "MatMulInteger"):
        StreamingSession(payload)


def test_a_flipped_byte_is_refused_as_corrupted_unless_the_check_is_switched_off():
    payload = model_bytes(LAYERS)
    model = onnx.load_model_from_string(payload)
    kernel = next(t for t in model.graph.initializer if t.name == "l0_kernel")
    offset = payload.index(kernel.raw_data) + 5
    flipped = payload[:offset] + bytes([payload[offset] ^ 0x40]) + payload[offset + 1:]
    with pytest.raises(ModelFileError, match="is corrupted: its bytes do not match the digest written at export"):
        StreamingSession(flipped)
    session = StreamingSession(flipped, check_digest=False)  # a file edited on purpose
    assert session.classes == C


def test_the_cli_refuses_a_corrupted_file_in_one_line_unless_told_it_was_edited(tmp_path):
    from click.testing import CliRunner

    from snudeploy.cli.main import cli

    payload = model_bytes(LAYERS, "step", format="step")
    offset = payload.index(b"l0_decay") - 40  # inside the weights, before the decay constant
    path = tmp_path / "edited.onnx"
    path.write_bytes(payload[:offset] + bytes([payload[offset] ^ 0x01]) + payload[offset + 1:])
    refused = CliRunner().invoke(cli, ["inspect", str(path)])
    assert refused.exit_code == 2 and "is corrupted" in refused.output and len(refused.output.splitlines()) == 1
    assert CliRunner().invoke(cli, ["inspect", str(path), "--no-digest-check"]).exit_code == 0
    enum = onnx.load_model_from_string(payload)
    enum.graph.input[0].type.tensor_type.elem_type = 115
    (tmp_path / "enum.onnx").write_bytes(sealed(enum))
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "enum.onnx")])
    assert result.exit_code == 2 and "element type number 115" in result.output


def test_a_schema_3_file_without_its_seal_is_refused():
    model = onnx.load_model_from_string(model_bytes(LAYERS))
    props = {p.key: p.value for p in model.metadata_props}
    onnx.helper.set_model_props(model, {metadata.METADATA_KEY: props[metadata.METADATA_KEY]})
    with pytest.raises(ModelFileError, match="seal .snudeploy.sha256. is missing"):
        StreamingSession(model.SerializeToString())
    StreamingSession(model.SerializeToString(), check_digest=False)


def test_a_path_with_a_nul_byte_is_a_model_file_error():
    with pytest.raises(ModelFileError, match="NUL byte"):
        StreamingSession("models/digits-snu/step\x00.onnx")


def test_a_protobuf_enum_out_of_range_is_a_model_file_error():
    """A flipped element type (e.g. 115, which onnx has no name for) is refused in one typed line."""
    model = onnx.load_model_from_string(model_bytes(LAYERS))
    model.graph.input[0].type.tensor_type.elem_type = 115
    with pytest.raises(ModelFileError, match="x has element type number 115, its metadata says float32"):
        StreamingSession(sealed(model))


def _with_node(op, inputs, outputs, initializers=(), **attrs) -> onnx.ModelProto:
    """The step model with one extra node whose output feeds nothing (a hostile payload riding along)."""
    model = onnx.load_model_from_string(model_bytes(LAYERS))
    model.graph.node.append(helper.make_node(op, inputs, outputs, **attrs))
    model.graph.initializer.extend(initializers)
    model.graph.output.append(helper.make_tensor_value_info(outputs[0], TensorProto.FLOAT, None))
    return model


def test_operators_snudeploy_never_emits_are_refused_by_name():
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20], np.int64), "huge_shape")
    model = _with_node("ConstantOfShape", ["huge_shape"], ["huge"], [shape])
    with pytest.raises(ModelFileError, match="contains operator.s. ConstantOfShape, which snudeploy's customop"):
        StreamingSession(sealed(model))


def test_a_4_tib_allocation_is_a_typed_error_and_changes_no_state():
    shape = numpy_helper.from_array(np.array([1 << 21, 1 << 19], np.int64), "huge_shape")  # 2**40 floats
    model = _with_node("ConstantOfShape", ["huge_shape"], ["huge"], [shape])
    try:
        session = StreamingSession(sealed(model), trust_operators=True)
    except ModelFileError:
        return  # ONNX Runtime may refuse it at load (constant folding): a typed error too
    session.open(2)
    with pytest.raises(InferenceError, match="ONNX Runtime"):
        session.step(np.zeros((2, F)))
    assert session.steps_seen().tolist() == [0, 0]


def _endless_loop_model() -> bytes:
    """A loop-format model whose spikes pass through a Loop that never ends."""
    model = onnx.load_model_from_string(model_bytes(LAYERS))
    spikes_node = next(n for n in model.graph.node if n.output[0] == "spikes")
    spikes_node.output[0] = "spikes_before_loop"
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])],
        "forever",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    model.graph.initializer.append(numpy_helper.from_array(np.array(True), "always"))
    model.graph.node.append(helper.make_node("Loop", ["", "always", "spikes_before_loop"], ["spikes"], body=body))
    return reseal(model.SerializeToString(), lambda raw: raw.update(format="loop"))


@pytest.mark.parametrize("shape", [(1, F), (1, 3, F)], ids=["step", "chunk"])
@pytest.mark.parametrize("io_binding", [True, False], ids=["iobinding", "plain"])
def test_an_endless_loop_is_stopped_by_the_time_limit_and_changes_no_state(io_binding, shape):
    session = StreamingSession(_endless_loop_model(), run_timeout=0.3, io_binding=io_binding)
    ids = session.open(1)
    before = session.snapshot(ids[0])
    with pytest.raises(RunTimeoutError, match="time limit of 0.3 s"):
        session.step(np.ones(shape), ids)  # a chunk runs the Loop inside the Scan of the rolled step graph
    with pytest.raises(RunTimeoutError):
        session.step(np.ones(shape), ids)  # a repeated set takes the bound path
    after = session.snapshot(ids[0])
    assert after.steps == before.steps == 0
    for name, value in before.states.items():
        np.testing.assert_array_equal(after.states[name], value)


@pytest.mark.parametrize("original, corrupt", [(b'"format": "customop"', b'"format": "custom\xff\xfe"'),
                                             (b"l0_y", b"l0\xffy"), (b"l0_kernel", b"l0_k\xffrnel")],
                         ids=["metadata", "state-name", "weight-name"])
def test_invalid_utf8_in_metadata_or_names_is_a_model_file_error(original, corrupt):
    payload = model_bytes(LAYERS)
    broken = payload.replace(original, corrupt)
    assert broken != payload
    with pytest.raises(ModelFileError, match="UTF-8"):
        StreamingSession(broken)


def test_non_finite_weights_are_refused(tmp_path):
    model = onnx.load_model_from_string(model_bytes(LAYERS))
    kernel = next(t for t in model.graph.initializer if t.name == "l0_kernel")
    values = numpy_helper.to_array(kernel).copy()
    values[0, 0] = np.nan
    kernel.CopyFrom(numpy_helper.from_array(values, "l0_kernel"))
    with pytest.raises(ModelFileError, match="weight 'l0_kernel' holds NaN or Inf"):
        StreamingSession(sealed(model))


def test_external_data_outside_the_model_folder_is_refused(tmp_path):
    model = onnx.load_model_from_string(model_bytes(LAYERS))
    kernel = next(t for t in model.graph.initializer if t.name == "l0_kernel")
    kernel.ClearField("raw_data")
    kernel.data_location = TensorProto.EXTERNAL
    kernel.external_data.add(key="location", value="../../etc/passwd")
    path = tmp_path / "model.onnx"
    path.write_bytes(sealed(model))
    with pytest.raises(ModelFileError, match="points outside the model's folder"):
        StreamingSession(path)


@pytest.mark.parametrize("kind", ["json", "spec", "fifo", "device", "folder"])
def test_files_that_are_not_models(tmp_path, kind):
    if kind == "json":
        path = tmp_path / "validation.json"
        path.write_text("{}")
    elif kind == "spec":
        path = tmp_path / "spec.json"
        path.write_text("{}")
    elif kind == "fifo":
        path = tmp_path / "model.onnx"
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    else:
        path = tmp_path
    with pytest.raises(ModelFileError):
        load_model(path)
    if kind == "fifo":
        assert stat.S_ISFIFO(os.stat(path).st_mode)


def test_every_refusal_is_a_snudeploy_error_and_a_value_error():
    with pytest.raises(SnudeployError) as info:
        StreamingSession(b"\x08\x01garbage")
    assert isinstance(info.value, ValueError)


def test_run_refuses_huge_sequences_before_allocating():
    session = StreamingSession(model_bytes(LAYERS))
    big = np.broadcast_to(np.zeros((1, 1, F), np.uint8), (1, 100_000, F))
    with pytest.raises(SnudeployError, match="`timesteps`"):
        session.run(big)
    x = spikes(np.random.default_rng(0), (2, 5, F))
    assert session.run(x).shape == (2, C)
