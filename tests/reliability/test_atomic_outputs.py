"""A failure or Ctrl-C never leaves a half-written file or a folder that mixes old and new outputs."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snudeploy import files
from snudeploy.errors import OutputError


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_single_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    files.write_text(target, "old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match="No space left on device"):
        files.write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_transaction_that_fails_while_staging_changes_nothing(tmp_path):
    with files.Transaction(tmp_path) as out:
        out.write_text("a.onnx", "old a")
        out.write_text("b.onnx", "old b")
    before = digest(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with files.Transaction(tmp_path) as out:
            out.write_text("a.onnx", "new a")
            raise KeyboardInterrupt
    assert digest(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx"]


def test_ctrl_c_during_the_renames_is_held_until_every_file_is_in_place(tmp_path, monkeypatch):
    replace, calls = os.replace, []

    def replace_then_interrupt(src, dst):
        replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the commit

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with files.Transaction(tmp_path) as out:
            for name in ("a.onnx", "b.onnx", "validation.json"):
                out.write_text(name, f"new {name}")
    assert len(calls) == 3
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {n: f"new {n}" for n in
                                                                   ("a.onnx", "b.onnx", "validation.json")}


def test_outputs_are_checked_before_the_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        files.check_writable(blocker / "out", "folder")
    with pytest.raises(OutputError, match="is a folder"):
        files.check_writable(tmp_path, "file")
    with pytest.raises(OutputError):
        files.check_writable(Path("/proc/version/out.json"))
    assert files.check_writable(tmp_path / "new" / "deeper", "folder") and not (tmp_path / "new").exists()


def _export(checkpoint, out, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "snudeploy.cli.main", "export", str(checkpoint), "--format", "all",
                             "--out", str(out), "--samples", "16"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


@pytest.mark.slow
@pytest.mark.train
def test_a_full_disk_during_export_leaves_the_previous_export_intact(random_digits_checkpoint, tmp_path):
    out = tmp_path / "onnx"
    assert _export(random_digits_checkpoint, out).wait(timeout=300) == 0
    before = digest(out)
    done = subprocess.run(["bash", "-c", f"ulimit -f 8; exec {sys.executable} -m snudeploy.cli.main export "
                                         f"{random_digits_checkpoint} --format all --out {out} --samples 16"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("Error: Cannot write")
    assert digest(out) == before and not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("delay", [3.0, 5.0, 6.5, 8.0])
def test_sigint_at_any_moment_leaves_the_old_or_the_new_export(random_digits_checkpoint, tmp_path, delay):
    out = tmp_path / "onnx"
    assert _export(random_digits_checkpoint, out).wait(timeout=300) == 0
    old = digest(out)
    for stale in out.iterdir():  # the new export differs in its files' bytes (fresh validation timings aside)
        if stale.suffix == ".json":
            stale.write_text('{"files": {}}\n')
    old = digest(out)
    process = _export(random_digits_checkpoint, out)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    now = digest(out)
    assert process.returncode in (0, 130), stderr
    if process.returncode == 130:  # what the message says is what happened to the files
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("Error: Interrupted")
        assert ("outputs were written" in last) == (now != old) and ("were not written" in last) == (now == old), last
    assert now == old or (set(now) == set(old) and now["validation.json"] != old["validation.json"]), (delay, now)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
