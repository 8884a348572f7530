"""Distributed training (docs/distributed.md): cluster checks in the quick lane, loopback clusters in the slow one."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner
from needs import need

from snudeploy import distributed, tfkeras_child
from snudeploy.cli.main import cli
from snudeploy.errors import ConfigurationError


def _config(task_type="worker", index=0, workers=2, **cluster):
    return json.dumps({"cluster": cluster or {"worker": [f"127.0.0.1:{2000 + i}" for i in range(workers)]},
                       "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize("tf_config, message", [
    (None, "TF_CONFIG, which is not set"),
    ("{not json", "not valid JSON"),
    ("[]", '"cluster": {"worker"'),
    (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), "list of \"host:port\""),
    (json.dumps({"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}), "list of \"host:port\""),
    (json.dumps({"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}),
     "has ps tasks"),
    (_config(index=2), "task index 2 is out of range: the cluster has 2 worker tasks (index 0 to 1)"),
    (_config(index=-1), "out of range"),
    (_config(index=True), "out of range"),
    (_config(task_type="evaluator"), '"task": {"type": one of worker'),
])
def test_bad_tf_config_is_one_clear_error(tf_config, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        distributed.task_from(tf_config)


def test_chief_is_the_chief_task_or_worker_0():
    assert distributed.task_from(_config(index=0)).chief and not distributed.task_from(_config(index=1)).chief
    with_chief = dict(chief=["127.0.0.1:3000"], worker=["127.0.0.1:3001"])
    assert distributed.task_from(_config("chief", 0, **with_chief)).chief
    task = distributed.task_from(_config("worker", 0, **with_chief))
    assert not task.chief and task.tasks == 2 and task.name == "worker 0"


def test_local_workers_get_distinct_loopback_ports_and_valid_configs():
    configs = distributed.local_configs(3)
    assert len({c["cluster"]["worker"][0] for c in configs}) == 1
    assert len(set(configs[0]["cluster"]["worker"])) == 3
    assert [distributed.task_from(json.dumps(c)).index for c in configs] == [0, 1, 2]


@pytest.mark.parametrize("args, env, message", [
    (["--distribute", "multi-worker"], {"TF_CONFIG": "{oops"}, "TF_CONFIG is not valid JSON"),
    (["--distribute", "multi-worker"], {"TF_CONFIG": _config(index=5)}, "task index 5 is out of range"),
    (["--distribute", "multi-worker"], {}, "TF_CONFIG, which is not set"),
    (["--workers", "2", "--distribute", "mirrored"], {}, "cannot go with --distribute mirrored"),
    (["--workers", "2"], {"TF_CONFIG": _config()}, "unset TF_CONFIG"),
    (["--backup-dir", "b"], {}, "--backup-dir goes with --distribute or --workers"),
    (["--workers", "0"], {}, "Invalid value for '--workers'"),
])
def test_bad_cluster_flags_exit_2_with_one_line(tmp_path, monkeypatch, args, env, message):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "o"), *args], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_distribute_without_tf_keras_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "installed", lambda module: module != "tf_keras")
    result = CliRunner().invoke(cli, ["train", "--distribute", "mirrored", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "need tf-keras" in result.stderr and "keras-team/keras#20585" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.train
def test_the_worker_refuses_keras_3(tmp_path):
    need("train")
    from snudeploy.checkpoint import legacy_keras

    if legacy_keras():
        pytest.skip("this process runs tf-keras")
    error = tmp_path / "error.json"
    code = tfkeras_child.main(distributed._main, ["--spec", "{}", "--out", str(tmp_path / "o"), "--strategy",
                                                  "mirrored", tfkeras_child.ERROR_FLAG, str(error)])
    assert code == 2 and json.loads(error.read_text())["type"] == "ConfigurationError"
    assert "needs tf-keras" in json.loads(error.read_text())["message"]


# --- real clusters on loopback (slow) ---------------------------------------------------------------------------

DIGITS = ["train", "--dataset", "digits", "--hidden", "32", "--quiet"]


def _snudeploy(*args, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return subprocess.run([sys.executable, "-m", "snudeploy.cli.main", *map(str, args)], capture_output=True,
                          text=True, env=env, **kwargs)


def _digests(log: str) -> dict:
    return dict(re.findall(r"\[(worker \d+)\] final weights sha256 (\w+)", log))


@pytest.mark.slow
@pytest.mark.train
def test_two_workers_train_like_one_with_the_same_global_batch(tmp_path):
    from snudeploy import load_checkpoint

    two = _snudeploy(*DIGITS, "--workers", "2", "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr[-3000:]
    digests = _digests(two.stderr)
    assert set(digests) == {"worker 0", "worker 1"} and len(set(digests.values())) == 1
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["distribution"] | {"steps_per_epoch": None} == {
        "strategy": "multi-worker", "replicas": 2, "workers": 2, "batch_per_replica": 15, "global_batch": 30,
        "steps_per_epoch": None, "resumed_after_epoch": None, "weights_sha256": digests["worker 0"]}
    assert metrics["distribution"]["steps_per_epoch"] == 1437 // 30
    assert json.loads((tmp_path / "two" / "spec.json").read_text())["recipe"]["batch_size"] == 15
    assert load_checkpoint(tmp_path / "two") is not None

    exported = _snudeploy("export", tmp_path / "two", "--format", "step", "--out", tmp_path / "onnx")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (tmp_path / "onnx" / "step.onnx").is_file()

    one = _snudeploy(*DIGITS, "--batch-size", "30", "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr[-3000:]
    single = json.loads((tmp_path / "one" / "metrics.json").read_text())["test_accuracy"]
    assert abs(metrics["test_accuracy"] - single) <= 0.01, (metrics["test_accuracy"], single)


@pytest.mark.slow
@pytest.mark.train
def test_a_killed_worker_resumes_from_the_backup(tmp_path):
    out, backup = tmp_path / "out", tmp_path / "backup"
    command = [*DIGITS, "--epochs", "4", "--workers", "2", "--backup-dir", backup, "--out", out]
    command.remove("--quiet")  # the chief prints "Epoch 2/4" as epoch 2 begins
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    process = subprocess.Popen([sys.executable, "-m", "snudeploy.cli.main", *map(str, command)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pids, log = {}, []
    for line in process.stderr:
        log.append(line)
        started = re.match(r"worker (\d+): started \(pid (\d+)\)", line)
        if started:
            pids[int(started[1])] = int(started[2])
        if line.startswith("Epoch 2/"):
            os.kill(pids[1], signal.SIGKILL)
    assert process.wait() == 2, "".join(log)
    assert "worker 1 was killed by signal 9" in log[-1] and not out.exists()

    again = _snudeploy(*command)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[worker 0] resumed from the backup" in again.stderr and "after epoch 1" in again.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["distribution"]["resumed_after_epoch"] == 1 and len(metrics["epoch_seconds"]) == 3
    assert len(set(_digests(again.stderr).values())) == 1


@pytest.mark.slow
@pytest.mark.train
def test_mirrored_trains_on_this_machines_devices(tmp_path):
    done = _snudeploy(*DIGITS, "--epochs", "2", "--distribute", "mirrored", "--out", tmp_path / "m")
    assert done.returncode == 0, done.stderr[-3000:]
    distribution = json.loads((tmp_path / "m" / "metrics.json").read_text())["distribution"]
    assert distribution["strategy"] == "mirrored" and distribution["workers"] == 1
    assert distribution["global_batch"] == 15 * distribution["replicas"] and "global batch" in done.stdout
