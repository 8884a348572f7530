"""`snudeploy serve triton` without a server: repositories, configurations, and the implicit-state variant.

The ONNX Runtime-backend variant cannot run here (the wheel's Triton has no onnxruntime
backend), so :mod:`implicit_state` applies Triton's implicit-state rules to it and every
sequence's spikes are compared bit for bit with ``StreamingSession``.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from implicit_state import ImplicitStateServer, parse
from needs import need

from snudeploy import extras
from snudeploy.cli.main import cli
from snudeploy.errors import ConfigurationError
from snudeploy.runtime import StreamingSession, load_model
from snudeploy.serve import repository
from snudeploy.serve.config import ServeSettings

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "models" / "digits-snu"


def write(model, folder, **settings):
    return repository.write(model, folder, ServeSettings(**settings))


def test_both_repositories_are_written_with_the_sequence_batcher(tiny_step, tmp_path):
    written = write(tiny_step, tmp_path, name="tiny", instances=2, max_batch=8, idle_ms=1500)
    names = {str(p.relative_to(tmp_path)) for p in written.files()}
    assert names == {"python/tiny/config.pbtxt", "python/tiny/1/model.py", "python/tiny/1/model.onnx",
                     "onnxruntime/tiny/config.pbtxt", "onnxruntime/tiny/1/model.onnx"}
    python = parse((tmp_path / "python/tiny/config.pbtxt").read_text())
    batching = python["sequence_batching"]
    assert python["backend"] == "python" and python["max_batch_size"] == 8
    assert batching["max_sequence_idle_microseconds"] == 1_500_000 and "direct" in batching
    assert {c["name"]: c["control"][0]["kind"] for c in batching["control_input"]} == {
        "START": "CONTROL_SEQUENCE_START", "END": "CONTROL_SEQUENCE_END", "READY": "CONTROL_SEQUENCE_READY",
        "CORRID": "CONTROL_SEQUENCE_CORRID"}
    assert python["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [-1, 16]}]  # a chunk of K steps
    assert python["output"] == [{"name": "spikes", "data_type": "TYPE_FP32", "dims": [-1, 4]}]
    assert {p["key"]: p["value"]["string_value"] for p in python["parameters"]}["max_chunk"] == "64"
    assert python["instance_group"] == [{"count": 2, "kind": "KIND_CPU"}]
    assert (tmp_path / "python/tiny/1/model.onnx").read_bytes() == tiny_step.read_bytes()
    assert "from snudeploy.serve.python_backend import TritonPythonModel" in (
        tmp_path / "python/tiny/1/model.py").read_text()


def test_the_onnxruntime_variant_declares_every_state_pair_as_implicit_state(tmp_path):
    info = load_model(REFERENCE / "step.onnx").info
    write(REFERENCE / "step.onnx", tmp_path, name="digits", strategy="oldest", max_sequences=100, max_batch=16)
    config = parse((tmp_path / "onnxruntime/digits/config.pbtxt").read_text())
    batching = config["sequence_batching"]
    assert config["backend"] == "onnxruntime" and batching["oldest"]["max_candidate_sequences"] == 100
    assert [c["name"] for c in batching["control_input"]] == ["START", "READY"]
    assert [(s["input_name"], s["output_name"], s["dims"]) for s in batching["state"]] == [
        (s.input, s.output, [s.units]) for s in info.states]
    assert all(s["initial_state"][0]["zero_data"] for s in batching["state"])


def test_configurations_follow_tritons_schema(tmp_path):
    """Triton's own ModelConfig message parses both files (the serve extra brings its protobuf classes)."""
    need("serve")
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    write(REFERENCE / "step.int8.onnx", tmp_path, name="digits")
    for backend in repository.BACKENDS:
        text = (tmp_path / backend / "digits" / "config.pbtxt").read_text()
        config = text_format.Parse(text, model_config_pb2.ModelConfig())
        assert config.name == "digits" and config.backend == backend


@pytest.mark.parametrize("model", ["tiny", "conv", "step.onnx", "step.int8.onnx", "customop.onnx"])
@pytest.mark.parametrize("initial_state", [True, False], ids=["zero-initial-state", "uninitialized-state"])
def test_the_implicit_state_variant_matches_streaming_bit_for_bit(model, initial_state, tiny_step, tiny_conv,
                                                                   tmp_path):
    """Sequences in chunks of mixed K (equal within an execution), slots shuffled, against single steps."""
    path = {"tiny": tiny_step, "conv": tiny_conv}.get(model, REFERENCE / model)
    write(path, tmp_path, name="m", max_batch=6)
    server = ImplicitStateServer(tmp_path / "onnxruntime" / "m")
    if not initial_state:  # Triton then hands the graph uninitialized memory at START
        for state in server.states:
            del state["initial_state"]
    session = StreamingSession(path)
    rng = np.random.default_rng(3)
    samples, steps = 14, 9
    x = (rng.random((samples, steps, *session.input_shape)) < 0.3).astype(np.float32)
    corrids = [1000 + i % 9 for i in range(samples)]  # ids are reused once their sequence has ended
    served, stored = _run_schedule(server, x, corrids, rng)
    for i in range(samples):
        stream = session.open(1)
        expected = np.stack([session.step(x[i, t][None], stream)[0] for t in range(steps)])
        np.testing.assert_array_equal(served[i], expected, err_msg=f"sample {i}")
        for name, value in session.snapshot(stream[0]).states.items():
            np.testing.assert_allclose(stored[i][name], value, rtol=1e-5, atol=1e-5, err_msg=f"sample {i} {name}")


def _run_schedule(server, x, corrids, rng):
    """Triton-like executions: up to max_batch sequences live, each execution one chunk length K for every
    request in it, slots shuffled, empty slots; returns the spikes [N, T, C] and each sequence's final states."""
    samples, steps = x.shape[:2]
    served = np.zeros((samples, steps, server.config["output"][0]["dims"][-1]), np.float32)
    stored = {}
    waiting, live, progress = list(range(samples)), [], {}
    while waiting or live:
        while waiting and len(live) < server.max_batch - 1 and rng.random() < 0.7:
            sample = waiting[0]
            if corrids[sample] in {corrids[s] for s in live}:
                break  # its id is still in use: it waits, as in Triton's backlog
            live.append(waiting.pop(0))
            progress[live[-1]] = 0
        if not live:
            continue
        chunk = int(rng.integers(1, 5))
        ready = [s for s in live if steps - progress[s] >= chunk and rng.random() < 0.8]
        if not ready:
            ready, chunk = live[:1], min(chunk, steps - progress[live[0]])
        slots = [(corrids[s], x[s, progress[s]:progress[s] + chunk], progress[s] == 0) for s in ready]
        slots += [None] * int(rng.integers(0, server.max_batch - len(slots) + 1))
        order = rng.permutation(len(slots))
        results = server.execute([slots[i] for i in order])
        for position, i in enumerate(order):
            if i < len(ready):
                sample = ready[i]
                served[sample, progress[sample]:progress[sample] + chunk] = results[position]
                progress[sample] += chunk
                if progress[sample] == steps:
                    live.remove(sample)
                    stored[sample] = dict(server.stored[corrids[sample]])
    return served, stored


def test_a_fixed_length_graph_or_bad_settings_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="fixed T = 20"):
        write(REFERENCE / "unrolled.onnx", tmp_path)
    with pytest.raises(ConfigurationError, match="max_chunk"):
        ServeSettings(max_chunk=0)
    with pytest.raises(ConfigurationError, match="oldest"):
        ServeSettings(max_sequences=4)
    with pytest.raises(ConfigurationError, match="name"):
        ServeSettings(name="a/b")


def test_cli_writes_the_repositories_and_reports_errors_in_one_line(tiny_step, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["serve", "triton", str(tiny_step), "--repo", str(tmp_path / "r"), "--name",
                                 "tiny", "--strategy", "oldest", "--max-sequences", "32", "--max-chunk", "16"])
    assert result.exit_code == 0, result.output
    assert "python backend" in result.output and (tmp_path / "r/onnxruntime/tiny/1/model.onnx").is_file()
    assert "up to 16 steps per request" in result.output
    config = parse((tmp_path / "r/python/tiny/config.pbtxt").read_text())
    assert {p["key"]: p["value"]["string_value"] for p in config["parameters"]}["max_chunk"] == "16"
    bad = runner.invoke(cli, ["serve", "triton", str(tiny_step), "--repo", str(tmp_path / "s"), "--max-sequences",
                              "4"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "oldest" in bad.output


def test_start_without_the_extra_or_on_an_old_glibc_is_one_clear_line(tiny_step, tmp_path, monkeypatch):
    runner = CliRunner()
    args = ["serve", "triton", str(tiny_step), "--repo", str(tmp_path / "r"), "--start"]
    monkeypatch.setattr(extras, "installed", lambda module: False)
    missing = runner.invoke(cli, args)
    assert missing.exit_code == 2 and "[serve] extra" in missing.output and missing.output.count("\n") == 1
    monkeypatch.setattr(os, "confstr", lambda name: "glibc 2.31")
    old = runner.invoke(cli, args)
    assert old.exit_code == 2 and "glibc >= 2.35" in old.output and "2.31" in old.output
    assert not (tmp_path / "r").exists()  # nothing written before the check failed
