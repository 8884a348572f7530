"""Bad input raises a typed error that says what was expected, and changes no stream's state."""

import json

import numpy as np
import onnx
import pytest
from snu_models import model_bytes, reseal, snu_layers, spikes

from snudeploy import metadata
from snudeploy.errors import (ConfigurationError, InputDTypeError, InputShapeError, InputValueError,
                              ModelFileError, SnudeployError, UnknownStreamError)
from snudeploy.runtime import StreamingSession

F, C = 16, 4


@pytest.fixture(params=[True, False], ids=["iobinding", "plain"])
def busy(step_bytes, request):
    """A session with streams 0, 1, 3 open (2 closed), stepped enough to hold bound state."""
    session = StreamingSession(step_bytes, io_binding=request.param)
    session.open(4)
    session.close([2])
    rng = np.random.default_rng(0)
    for x in spikes(rng, (4, 3, F)):
        session.step(x)
    return session


def everything(session):
    """All observable stream state, for before/after comparisons."""
    snaps = {s: session.snapshot(s) for s in session.streams}
    return session.streams, {s: (dict(v.states), v.steps, v.counts, v.last) for s, v in snaps.items()}


def assert_same(a, b):
    assert a[0] == b[0]
    for stream, (states, steps, counts, last) in a[1].items():
        other = b[1][stream]
        assert steps == other[1]
        np.testing.assert_array_equal(counts, other[2])
        np.testing.assert_array_equal(last, other[3])
        for name in states:
            np.testing.assert_array_equal(states[name], other[0][name])


def zeros_with(row, column, value):
    x = np.zeros((3, F))
    x[row, column] = value
    return x


ok = np.zeros((3, F), np.uint8)
nan, inf = zeros_with(1, 2, np.nan), zeros_with(0, 0, -np.inf)
huge = zeros_with(2, 5, 1e39)  # finite in float64, Inf in float32

BAD_STEPS = [
    (np.zeros(F), None, InputShapeError, r"Expected one step \[streams=3, features=16\] or a chunk \[streams=3, "
                                         r"steps, features=16\], got shape \[16\]"),
    (np.zeros((3, F + 1)), None, InputShapeError, r"features=16\], got shape \[3, 17\]"),
    (np.zeros((2, F)), None, InputShapeError, r"streams=3.*got shape \[2, 16\]"),
    (np.zeros((3, 1, 1, F)), None, InputShapeError, r"got shape \[3, 1, 1, 16\]"),
    (np.zeros((2, F)), [0, 1, 3], InputShapeError, r"streams=3"),
    (np.zeros((3, F), object), None, InputDTypeError, "got dtype object"),
    (np.full((3, F), "1"), None, InputDTypeError, "got dtype <U1"),
    (np.zeros((3, F), complex), None, InputDTypeError, "got dtype complex128"),
    ([[0] * F, [0] * (F - 1)], None, InputShapeError, "ragged"),
    (nan, None, InputValueError, r"Expected finite values within ±1e\+06, got 1 NaN/Inf"),
    (inf, None, InputValueError, "NaN/Inf"),
    (huge, None, InputValueError, "as float32"),
    (ok, [0, 1, 7], UnknownStreamError, r"Stream 7 was never opened; open streams: \[0, 1, 3\]"),
    (ok, [0, 1, 2], UnknownStreamError, "Stream 2 was closed"),
    (ok, [0, 1, 1], UnknownStreamError, r"repeated: \[1\]"),
    (ok, [0, "a", 3], UnknownStreamError, "ints open\\(\\) returned, got 'a'"),
    (ok, 1.5, UnknownStreamError, "Expected stream ids"),
]


@pytest.mark.parametrize("x, streams, error, message", BAD_STEPS)
def test_bad_step_is_rejected_and_changes_nothing(busy, x, streams, error, message):
    before = everything(busy)
    with pytest.raises(error, match=message) as info:
        busy.step(x, streams)
    assert isinstance(info.value, SnudeployError)
    assert_same(before, everything(busy))
    busy.step(np.ones((3, F), bool))  # still usable, still bound-path capable
    busy.step(np.ones((3, F), bool))


@pytest.mark.parametrize("call, error, message", [
    (lambda s: s.reset([0, 9]), UnknownStreamError, "Stream 9 was never opened"),
    (lambda s: s.close([1, 2]), UnknownStreamError, "Stream 2 was closed"),
    (lambda s: s.close([3, 3]), UnknownStreamError, "repeated"),
    (lambda s: s.snapshot(2), UnknownStreamError, "was closed"),
    (lambda s: s.restore(3, "snapshot"), ConfigurationError, r"Expected a StreamSnapshot from snapshot\(\), got str"),
    (lambda s: s.predict([5]), UnknownStreamError, "never opened"),
    (lambda s: s.decided(-1), ConfigurationError, "`remaining`, expected a non-negative integer, got -1"),
    (lambda s: s.open(0), ConfigurationError, "`n`, expected a positive integer up to .*, got 0"),
    (lambda s: s.run(np.zeros((2, F))), InputShapeError, r"\[samples, timesteps, features=16\]"),
    (lambda s: s.run(np.zeros((2, 3, F + 1))), InputShapeError, "got shape \\[2, 3, 17\\]"),
    (lambda s: s.run(np.zeros((2, 0, F))), InputShapeError, "at least one time step"),
    (lambda s: s.run(np.full((2, 3, F), np.nan)), InputValueError, "96 NaN/Inf"),
    (lambda s: s.run(np.full((2, 3, F), 3e38)), InputValueError, "out-of-range"),
    (lambda s: s.step(np.full((3, F), 2e6)), InputValueError, "within ±1e\\+06"),
    (lambda s: s.step(np.ones((3, F)), [True, 1, 3]), UnknownStreamError, "got True"),
    (lambda s: s.open(10 ** 12), ConfigurationError, "`n`, expected a positive integer up to"),
    (lambda s: s.run(np.zeros((2, 3, F)), batch_size=0), ConfigurationError, "`batch_size`"),
])
def test_other_bad_calls_are_rejected_and_change_nothing(busy, call, error, message):
    before = everything(busy)
    with pytest.raises(error, match=message):
        call(busy)
    assert_same(before, everything(busy))


def test_restore_of_a_corrupt_snapshot_changes_nothing(busy):
    before = everything(busy)
    snap = busy.snapshot(0)
    snap.states["l1_s"][3] = np.nan
    with pytest.raises(ConfigurationError, match="NaN or Inf"):
        busy.restore(1, snap)
    assert_same(before, everything(busy))


def test_step_without_open_streams(step_bytes):
    with pytest.raises(UnknownStreamError, match="No streams to step"):
        StreamingSession(step_bytes).step(np.zeros((0, F)))


def _with_metadata(payload: bytes, change) -> bytes:
    return reseal(payload, change)


def _without_metadata(payload: bytes) -> bytes:
    model = onnx.load_model_from_string(payload)
    del model.metadata_props[:]
    return model.SerializeToString()


@pytest.mark.parametrize("make, message", [
    (lambda tmp, b: tmp / "missing.onnx", r"missing\.onnx does not exist"),
    (lambda tmp, b: _file(tmp, b"this is a text file, not ONNX\n"), "is not a readable ONNX model"),
    (lambda tmp, b: b[: len(b) // 2], "is not a readable ONNX model"),
    (lambda tmp, b: b"", r"not an ONNX model \(no graph\)"),
    (lambda tmp, b: _without_metadata(b), "is not a snudeploy model: it has no 'snudeploy' metadata"),
    (lambda tmp, b: _with_metadata(b, lambda m: m.update(schema_version=99)),
     "written with metadata schema 99; this snudeploy reads up to 3"),
    (lambda tmp, b: _with_metadata(b, lambda m: m["states"][0].update(input="hidden_state")),
     "wired hidden_state -> l0_y_next; the naming contract says l0_y -> l0_y_next"),
    (lambda tmp, b: _with_metadata(b, lambda m: m["outputs"].pop("spikes")), "`outputs.spikes` must be a name"),
    (lambda tmp, b: _with_metadata(b, lambda m: m.update(quantization={"ort_disabled_optimizers": "all"})),
     "ort_disabled_optimizers` must be a list of optimizer names, got 'all'"),
    (lambda tmp, b: 42, "Expected a model path or the model's bytes, got int"),
], ids=["missing", "text", "truncated", "empty", "no-metadata", "newer-schema", "foreign-names", "no-spikes",
        "bad-optimizers", "int"])
def test_unusable_model_files(tmp_path, step_bytes, make, message):
    with pytest.raises(ModelFileError, match=message):
        StreamingSession(make(tmp_path, step_bytes))


def _file(tmp, content):
    path = tmp / "model.onnx"
    path.write_bytes(content)
    return path


def test_model_that_onnx_runtime_cannot_load(step_bytes):
    model = onnx.load_model_from_string(step_bytes)
    del model.functions[:]  # the SNUCell body: ONNX Runtime then does not know the op
    payload = reseal(model.SerializeToString(), lambda raw: None)
    with pytest.raises(ModelFileError, match="ai.snudeploy::SNUCell.*not emit"):
        StreamingSession(payload)
    with pytest.raises(ModelFileError, match="ONNX Runtime cannot load model bytes"):
        StreamingSession(payload, trust_operators=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"threads": 0}, "`threads`, expected a positive integer up to 256, got 0"),
    ({"threads": 10 ** 6}, "`threads`, expected a positive integer up to 256"),
    ({"run_timeout": -1}, "`run_timeout`"),
    ({"graph_optimization_level": "max"}, "`graph_optimization_level`, expected one of disable, basic"),
])
def test_bad_session_options(step_bytes, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        StreamingSession(step_bytes, **kwargs)


def test_layer_sizes_differ_between_snapshot_and_model():
    a = StreamingSession(model_bytes(snu_layers([F, 12, 8, C])))
    b = StreamingSession(model_bytes(snu_layers([F, 12, C])))
    (sa,), (sb,) = a.open(), b.open()
    with pytest.raises(ConfigurationError, match="does not fit this model"):
        b.restore(sb, a.snapshot(sa))
