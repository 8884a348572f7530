"""The real Triton (the [serve] extra's wheel) on loopback ports, serving generated repositories.

One server for the module holds two models: ``tiny`` (16-12-4, 64 sequences per
instance, 1.5 s idle eviction, chunks of up to 8 steps) and ``digits`` (the shipped
reference model). Requests carry chunks ``x [1, K, F]``.
"""

import asyncio
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from needs import need

need("serve")

import tritonclient.grpc as tritonclient  # noqa: E402
from tritonclient.grpc.aio import InferenceServerClient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from snudeploy.bench import schema  # noqa: E402
from snudeploy.cli.main import cli  # noqa: E402
from snudeploy.evaluation import test_split  # noqa: E402
from snudeploy.runtime import StreamingSession  # noqa: E402
from snudeploy.serve import client, repository  # noqa: E402
from snudeploy.serve.config import ServeSettings  # noqa: E402
from snudeploy.serve.server import TritonServer  # noqa: E402

pytestmark = pytest.mark.slow
DIGITS = Path(__file__).resolve().parents[2] / "models" / "digits-snu" / "step.onnx"
IDLE_MS = 1500
MAX_CHUNK = 8


@pytest.fixture(scope="module")
def server(tiny_step, tmp_path_factory):
    root = tmp_path_factory.mktemp("triton")
    repository.write(tiny_step, root, ServeSettings(name="tiny", max_batch=64, idle_ms=IDLE_MS, max_chunk=MAX_CHUNK))
    repository.write(DIGITS, root, ServeSettings(name="digits", max_batch=32))
    with TritonServer(root / "python") as running:
        yield running


def alone(path, x):
    """Spikes of ``x`` [T, F] streamed alone through StreamingSession."""
    session = StreamingSession(path)
    stream = session.open(1)
    return np.stack([session.step(frame[None], stream)[0] for frame in x])


def infer(url, corrid, x, start=False, end=False, dtype="FP32", model="tiny"):
    """One request of ``x`` [1, K, F]; its spikes [K, C], or the server's error message."""
    async def call():
        connection = InferenceServerClient(url)
        try:
            value = tritonclient.InferInput("x", list(np.shape(x)), dtype)
            value.set_data_from_numpy(np.asarray(x))
            result = await connection.infer(model, [value], sequence_id=corrid, sequence_start=start,
                                            sequence_end=end)
            return result.as_numpy("spikes")[0]
        except InferenceServerException as e:
            return e.message()
        finally:
            await connection.close()
    return asyncio.run(call())


def test_64_interleaved_sequences_in_mixed_chunks_each_equal_streaming_alone(server, tiny_step):
    rng = np.random.default_rng(0)
    samples, steps = 64, 12
    x = (rng.random((samples, steps, 16)) < 0.3).astype(np.float32)
    got = np.zeros((samples, steps, 4), np.float32)

    async def run():
        connection = InferenceServerClient(server.endpoints.grpc_url)

        async def sequence(i):
            await asyncio.sleep(rng.random() * 0.05)
            t = 0
            while t < steps:
                k = min(int(rng.integers(1, MAX_CHUNK + 1)), steps - t)  # 1 to 8 steps per request
                value = tritonclient.InferInput("x", [1, k, 16], "FP32")
                value.set_data_from_numpy(x[i, t:t + k][None])
                result = await connection.infer("tiny", [value], sequence_id=5000 + i, sequence_start=t == 0,
                                                sequence_end=t + k == steps)
                got[i, t:t + k] = result.as_numpy("spikes")[0]
                t += k
                await asyncio.sleep(rng.random() * 0.003)  # a random interleaving of the 64 sequences
        try:
            await asyncio.gather(*(sequence(i) for i in rng.permutation(samples)))
        finally:
            await connection.close()

    asyncio.run(run())
    for i in range(samples):
        np.testing.assert_array_equal(got[i], alone(tiny_step, x[i]), err_msg=f"sequence {i}")


def test_start_resets_a_reused_id_and_end_frees_the_stream(server, tiny_step):
    url = server.endpoints.grpc_url
    rng = np.random.default_rng(1)
    first, second = (rng.random((2, 4, 1, 1, 16)) < 0.5).astype(np.float32)  # one step per request
    for t in range(4):
        infer(url, 77, first[t], start=t == 0)  # left open: no END
    again = [infer(url, 77, second[t], start=t == 0, end=t == 3)[0] for t in range(4)]
    np.testing.assert_array_equal(np.stack(again), alone(tiny_step, second[:, 0, 0]))
    late = infer(url, 77, second[0])
    assert isinstance(late, str) and "START" in late  # END freed it: a new request must START


def test_an_idle_sequence_is_evicted_and_a_late_request_is_refused(server):
    url = server.endpoints.grpc_url
    x = np.zeros((1, 3, 16), np.float32)
    assert isinstance(infer(url, 88, x, start=True), np.ndarray)
    time.sleep(IDLE_MS / 1000 + 1.0)
    late = infer(url, 88, x)
    assert isinstance(late, str) and "must specify the START flag" in late


def test_bad_requests_get_errors_and_other_sequences_are_unaffected(server, tiny_step):
    url = server.endpoints.grpc_url
    rng = np.random.default_rng(2)
    x = (rng.random((6, 2, 16)) < 0.5).astype(np.float32)
    good = []
    for t in range(6):
        good.append(infer(url, 91, x[t][None], start=t == 0, end=t == 5))
        if t == 1:
            assert infer(url, 92, np.zeros((1, 2, 17), np.float32), start=True).startswith("[request id")  # width
            assert "unexpected shape" in infer(url, 96, np.zeros((1, 16), np.float32), start=True)  # no K axis
            assert "data-type" in infer(url, 93, np.zeros((1, 2, 16)), start=True, dtype="FP64")
            assert "START" in infer(url, 94, x[t][None])  # no START
            nan = infer(url, 95, np.full((1, 2, 16), np.nan, np.float32), start=True)
            assert "InputValueError" in nan and "NaN" in nan
            long = infer(url, 97, np.zeros((1, MAX_CHUNK + 1, 16), np.float32), start=True)
            assert "InputShapeError" in long and f"at most {MAX_CHUNK} time steps" in long
    np.testing.assert_array_equal(np.concatenate(good), alone(tiny_step, x.reshape(12, 16)))


def test_streaming_the_test_split_gives_the_accuracy_of_snudeploy_run(server, tmp_path):
    info = StreamingSession(DIGITS).info
    split = test_split(info, limit=300)
    served = client.stream(server.endpoints.grpc_url, "digits", split.spikes, concurrency=24, chunk=7)
    assert served.errors == [] and served.steps == 300 * split.spikes.shape[1]
    assert served.requests == 300 * 3  # 20 steps in chunks of 7, 7 and 6
    out = tmp_path / "run.json"
    result = CliRunner().invoke(cli, ["run", str(DIGITS), "--limit", "300", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert served.accuracy(split.labels) == json.loads(out.read_text())["accuracy"]


def test_cli_start_serves_until_stopped_and_a_taken_port_is_one_line(tiny_step, tmp_path):
    runner = CliRunner()

    def serve(grpc_port, *more):
        return runner.invoke(cli, ["serve", "triton", str(tiny_step), "--repo", str(tmp_path / "r"), "--start",
                                   "--grpc-port", str(grpc_port), "--http-port", "0", "--metrics-port", "0", *more])

    result = serve(0, "--stop-after", "1")
    assert result.exit_code == 0, result.output
    assert "Triton 2.51.0 serves 'snu': gRPC 127.0.0.1:" in result.output and "Triton stopped." in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = serve(taken.getsockname()[1])
    assert busy.exit_code == 2 and "taken" in busy.output and busy.output.count("\n") == 1


def test_bench_serve_reports_triton_beside_in_process_for_each_chunk_size(tiny_step, tmp_path):
    out = tmp_path / "serve.json"
    result = CliRunner().invoke(cli, ["bench", "serve", str(tiny_step), "--sequences", "4", "--steps", "5",
                                      "--duration", "10", "--chunk", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert schema.validate(document) == [] and document["kind"] == "serve"
    rows = {(r["server"], r["batch"], r["chunk"]): r for r in document["records"]}
    assert list(rows) == [("in-process", 4, 1), ("in-process", 1, 1), ("triton", 4, 1),
                          ("in-process", 4, 2), ("in-process", 1, 2), ("triton", 4, 2)]
    for (server, batch, chunk), row in rows.items():
        assert row["stream_steps"] == 20 and row["errors"] == 0 and not row["capped"]
        assert 0 < row["p50_us"] <= row["p99_us"] and row["throughput"] > 0
        calls = -(-5 // chunk) * (4 if batch == 1 or server == "triton" else 1)  # chunks of 2, 2 and 1
        assert row["samples"] == calls
        if server == "triton":  # Triton's and the Python model's account of the same requests
            assert 0 < row["model_us"] <= row["execute_us"] <= row["backend_us"]
            assert row["queue_us"] >= 0 and 1 <= row["requests_per_execution"] <= 4
        else:
            assert row["queue_us"] is row["backend_us"] is row["requests_per_execution"] is None
    assert "| triton" in result.output and "stream-steps/s" in result.output and "model µs" in result.output
