"""Chunks: ``step(x [S, K, *input])`` advances streams by K steps in one ONNX Runtime call.

Random schedules of open/close/reset/step/chunk/snapshot-restore run on one session, and the
same schedule with every chunk replaced by K single steps runs on another: spikes, counts and
step counts must be equal exactly, states within the float tolerance of the other runtime tests
(int8 graphs: exactly). Then bad chunks (each must raise a typed error and change nothing), the
rolled graph's structure, a time limit inside a chunk, and threads.
"""

import threading

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snu_models import conv_network, int8_model_bytes, model_bytes, snu_layers, spikes

from snudeploy import arguments
from snudeploy.converters.network import Network, dense
from snudeploy.errors import ConfigurationError, InputShapeError, InputValueError, SnudeployError, UnknownStreamError
from snudeploy.runtime import StreamingSession, load_model
from snudeploy.runtime.inputs import chunk_ranks, step_ranks
from snudeploy.runtime.scan import sequence_graph

F, C = 16, 4
DENSE = snu_layers([F, 12, 8, C], seed=3)
RECURRENT = snu_layers([F, 12, 8, C], seed=4, g="identity", recurrent=True, lateral_inhibition=True)
MODELS = {  # name -> (payload, states compared exactly)
    "step": (model_bytes(DENSE, "step", format="step"), False),
    "customop-step-recurrent": (model_bytes(RECURRENT, "step"), False),
    "customop-sequence": (model_bytes(DENSE, "sequence"), False),
    "conv-step": (model_bytes(conv_network(), "step", format="step"), False),
    "int8-step": (int8_model_bytes(DENSE, "step", format="step"), True),
}


def assert_same_streams(chunked, stepped, exact_states):
    assert chunked.streams == stepped.streams
    np.testing.assert_array_equal(chunked.spike_counts(), stepped.spike_counts())
    np.testing.assert_array_equal(chunked.steps_seen(), stepped.steps_seen())
    np.testing.assert_array_equal(chunked.last_spikes(), stepped.last_spikes())
    for stream in chunked.streams:
        a, b = chunked.snapshot(stream).states, stepped.snapshot(stream).states
        for name in a:
            if exact_states:
                np.testing.assert_array_equal(a[name], b[name], err_msg=name)
            else:
                np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("io_binding", [True, False], ids=["iobinding", "plain"])
@pytest.mark.parametrize("name", list(MODELS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_chunk_schedules_equal_single_steps(name, io_binding, data):
    payload, exact = MODELS[name]
    chunked = StreamingSession(payload, threads=1, io_binding=io_binding)
    stepped = StreamingSession(payload, threads=1, io_binding=False)
    shape = chunked.input_shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    for _ in range(data.draw(st.integers(1, 10), label="operations")):
        open_ids = chunked.streams
        op = data.draw(st.sampled_from(["open", "close", "reset", "move", "step", "chunk", "chunk", "chunk"])
                       if open_ids else st.just("open"))
        if op == "open":
            n = data.draw(st.integers(1, 4))
            assert chunked.open(n) == stepped.open(n)
            continue
        chosen = data.draw(st.none() | st.lists(st.sampled_from(open_ids), min_size=1, unique=True))
        rows = len(open_ids) if chosen is None else len(chosen)
        if op == "close":
            for session in (chunked, stepped):
                session.close(chosen)
        elif op == "reset":
            for session in (chunked, stepped):
                session.reset(chosen)
        elif op == "move":
            source, target = data.draw(st.sampled_from(open_ids)), data.draw(st.sampled_from(open_ids))
            for session in (chunked, stepped):
                session.restore(target, session.snapshot(source))
        elif op == "step":
            x = spikes(rng, (rows, *shape))
            np.testing.assert_array_equal(chunked.step(x, chosen), stepped.step(x, chosen))
        else:
            for _ in range(data.draw(st.integers(1, 3), label="repeats")):  # repeats take the bound path
                steps = data.draw(st.integers(1, 5), label="K")
                x = spikes(rng, (rows, steps, *shape))
                got = chunked.step(x, chosen)
                assert got.shape == (rows, steps, chunked.classes) and got.dtype == np.float32
                expected = np.stack([stepped.step(x[:, t], chosen) for t in range(steps)], axis=1)
                np.testing.assert_array_equal(got, expected)
    assert_same_streams(chunked, stepped, exact)


def test_a_flattened_chunk_of_a_conv_network_equals_the_shaped_one():
    payload = MODELS["conv-step"][0]
    shaped, flat = StreamingSession(payload), StreamingSession(payload)
    x = spikes(np.random.default_rng(1), (3, 4, *shaped.input_shape))
    shaped.open(3)
    flat.open(3)
    np.testing.assert_array_equal(shaped.step(x), flat.step(x.reshape(3, 4, -1)))
    np.testing.assert_array_equal(shaped.step(x[:, 0]), flat.step(x[:, 0].reshape(3, -1)))  # steps too
    assert_same_streams(shaped, flat, exact_states=True)


def test_a_chunk_is_told_from_a_step_by_its_rank():
    assert step_ranks((16,)) == {2} and chunk_ranks((16,)) == {3}
    assert step_ranks((8, 8, 2)) == {2, 4} and chunk_ranks((8, 8, 2)) == {3, 5}  # [S, F] / [S, K, F] flattened
    assert step_ranks((4, 5)) == {2, 3} and chunk_ranks((4, 5)) == {4}  # [S, K, 20] would read as a step [S, 4, 5]


@pytest.fixture(params=[True, False], ids=["iobinding", "plain"])
def busy(request):
    """Streams 0, 1, 3 open (2 closed), chunked twice so that a repeated set holds bound state."""
    session = StreamingSession(MODELS["step"][0], io_binding=request.param)
    session.open(4)
    session.close([2])
    rng = np.random.default_rng(0)
    for _ in range(3):
        session.step(spikes(rng, (3, 2, F)))
    return session


def everything(session):
    snaps = {s: session.snapshot(s) for s in session.streams}
    return session.streams, {s: (v.states, v.steps, v.counts.tolist(), v.last.tolist()) for s, v in snaps.items()}


def assert_unchanged(before, after):
    assert before[0] == after[0]
    for stream, (states, steps, counts, last) in before[1].items():
        assert (steps, counts, last) == after[1][stream][1:]
        for name, value in states.items():
            np.testing.assert_array_equal(value, after[1][stream][0][name])


def with_value(shape, value):
    x = np.zeros(shape)
    x[1, 2, 3] = value
    return x


BAD_CHUNKS = [
    (np.zeros((3, 0, F)), InputShapeError, r"at least one step per stream, got shape \[3, 0, 16\] \(K = 0\)"),
    (np.zeros((3, 2, 2, F)), InputShapeError, r"Expected one step \[streams=3, features=16\] or a chunk "
                                               r"\[streams=3, steps, features=16\], got shape \[3, 2, 2, 16\]"),
    (np.zeros((2, 3, F)), InputShapeError, r"\[streams=3, steps, features=16\], got shape \[2, 3, 16\]"),
    (np.zeros((3, 3, F + 1)), InputShapeError, r"features=16\], got shape \[3, 3, 17\]"),
    ([np.zeros((2, F)), np.zeros((3, F)), np.zeros((2, F))], InputShapeError, "ragged"),  # K differs per stream
    (with_value((3, 4, F), np.nan), InputValueError, "1 NaN/Inf"),
    (with_value((3, 4, F), 1e39), InputValueError, "as float32"),
    (np.zeros((3, 2, F), complex), SnudeployError, "complex128"),
]


@pytest.mark.parametrize("x, error, message", BAD_CHUNKS)
def test_bad_chunks_are_rejected_and_change_nothing(busy, x, error, message):
    before = everything(busy)
    with pytest.raises(error, match=message):
        busy.step(x)
    assert_unchanged(before, everything(busy))
    busy.step(np.ones((3, 2, F), bool))  # still usable, bound path included
    busy.step(np.ones((3, 2, F), bool))


def test_a_chunk_longer_than_the_limit_is_refused(busy, monkeypatch):
    monkeypatch.setitem(arguments.LIMITS, "timesteps", 4)
    before = everything(busy)
    with pytest.raises(InputShapeError, match="at most 4 steps per stream, got K = 5"):
        busy.step(np.zeros((3, 5, F)))
    assert_unchanged(before, everything(busy))
    busy.step(np.zeros((3, 4, F)))


def test_unknown_streams_and_overflowing_chunks_change_nothing(busy):
    before = everything(busy)
    with pytest.raises(UnknownStreamError, match="Stream 2 was closed"):
        busy.step(np.zeros((3, 2, F)), [0, 1, 2])
    assert_unchanged(before, everything(busy))
    huge = Network.build((F,), [dense(np.full((F, C), 1e33, np.float32), np.ones(C, np.float32))])
    loud = StreamingSession(model_bytes(huge, "step", format="step"), io_binding=busy.io_binding)
    loud.open(2)
    for _ in range(2):
        loud.step(np.zeros((2, 3, F)))
    before = everything(loud)
    with pytest.raises(InputValueError, match="chunk would make a stream's state NaN.*none of its steps was applied"):
        loud.step(np.concatenate([np.zeros((2, 5, F)), np.full((2, 1, F), 1e5)], axis=1))  # x W overflows at K = 6
    assert_unchanged(before, everything(loud))


def test_int8_chunks_take_spikes_only():
    session = StreamingSession(MODELS["int8-step"][0])
    session.open(2)
    with pytest.raises(InputValueError, match="takes spikes only"):
        session.step(np.full((2, 3, F), 0.5))
    assert session.steps_seen().tolist() == [0, 0]


def test_a_fixed_length_graph_takes_chunks_of_its_length_only():
    unrolled = StreamingSession(model_bytes(DENSE, "sequence", timesteps=5))
    reference = StreamingSession(MODELS["step"][0])
    for session in (unrolled, reference):
        session.open(2)
    x = spikes(np.random.default_rng(2), (2, 10, F))
    for part in (x[:, :5], x[:, 5:]):
        np.testing.assert_array_equal(unrolled.step(part), reference.step(part))
    with pytest.raises(InputShapeError, match=r"steps=5, features=16\], got shape \[2, 4, 16\]"):
        unrolled.step(x[:, :4])
    with pytest.raises(ConfigurationError, match="chunks of exactly 5 steps, but cannot step one time step"):
        unrolled.step(x[:, 0])
    assert_same_streams(unrolled, reference, exact_states=False)


@pytest.mark.parametrize("name", ["step", "conv-step", "int8-step", "customop-step-recurrent"])
def test_the_rolled_graph_is_valid_onnx_and_hoists_what_reads_the_input_only(name):
    payload = MODELS[name][0]
    info = load_model(payload).info
    rolled = sequence_graph(onnx.load_model_from_string(payload), info)
    onnx.checker.check_model(rolled, full_check=True)
    outer = [n.op_type for n in rolled.graph.node]
    body = [n.op_type for n in next(n for n in rolled.graph.node if n.op_type == "Scan").attribute[0].g.node]
    assert outer.count("Scan") == 1
    hoisted = {"step": ["MatMul"], "conv-step": ["Transpose", "Conv", "Transpose"],
               "int8-step": ["Cast", "MatMulInteger", "Cast", "Mul"], "customop-step-recurrent": []}[name]
    assert [op for op in outer if op in ("MatMul", "Conv", "Transpose", "Cast", "MatMulInteger", "Mul")] == hoisted
    assert body.count("MatMul") + body.count("MatMulInteger") + body.count("Conv") + body.count("SNUCell") == \
        {"step": 2, "conv-step": 2, "int8-step": 2, "customop-step-recurrent": 3}[name]


def test_a_sequence_graph_cannot_be_rolled_again():
    info = load_model(MODELS["customop-sequence"][0]).info
    with pytest.raises(ConfigurationError, match="Only a step graph"):
        sequence_graph(onnx.load_model_from_string(MODELS["customop-sequence"][0]), info)


def test_concurrent_chunks_equal_a_sequential_run():
    payload = MODELS["step"][0]
    rng = np.random.default_rng(5)
    threads, per_thread, rounds, steps = 4, 2, 6, 3
    x = spikes(rng, (threads, per_thread, rounds * steps, F))
    session = StreamingSession(payload, threads=1)
    groups = [session.open(per_thread) for _ in range(threads)]
    outputs = np.zeros((threads, per_thread, rounds * steps, C), np.float32)
    errors, start = [], threading.Barrier(threads)

    def stream(k):
        try:
            start.wait()
            for r in range(rounds):
                part = slice(r * steps, (r + 1) * steps)
                if r % 2:
                    outputs[k, :, part] = session.step(x[k, :, part], groups[k])
                else:  # chunks and single steps interleaved across threads
                    for t in range(part.start, part.stop):
                        outputs[k, :, t] = session.step(x[k, :, t], groups[k])
        except Exception as e:  # collected: an assertion inside a thread would be lost
            errors.append(e)

    workers = [threading.Thread(target=stream, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    alone = StreamingSession(payload, threads=1)
    alone.open(threads * per_thread)
    flat = x.reshape(threads * per_thread, rounds * steps, F)
    expected = np.stack([alone.step(flat[:, t]) for t in range(rounds * steps)], axis=1)
    np.testing.assert_array_equal(outputs.reshape(expected.shape), expected)
    np.testing.assert_array_equal(session.spike_counts(), alone.spike_counts())
