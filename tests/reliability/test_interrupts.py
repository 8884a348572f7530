"""Ctrl-C is never lost, and never ends a process by the signal: held over code that would swallow it,
and turned into exit code 130 once a command has ended."""

import os
import signal
import subprocess
import sys

import onnx
import pytest
from needs import need

from snudeploy import interrupts


def test_held_delivers_ctrl_c_when_the_block_ends():
    reached_the_end = False
    with pytest.raises(KeyboardInterrupt):
        with interrupts.held():
            try:  # a library's bare except: would swallow a KeyboardInterrupt raised here
                os.kill(os.getpid(), signal.SIGINT)
                sum(range(10_000))
            except:  # noqa: E722
                pass
            reached_the_end = True
    assert reached_the_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_the_final_renames_says_the_outputs_were_written(tmp_path, monkeypatch):
    from snudeploy.cli.main import _one_line
    from snudeploy.files import Transaction

    replace = os.replace

    def interrupted_replace(source, target):
        if str(target).endswith("a.onnx"):
            os.kill(os.getpid(), signal.SIGINT)  # lands while the renames are held
        replace(source, target)

    monkeypatch.setattr(os, "replace", interrupted_replace)
    with pytest.raises(interrupts.AfterCommit) as caught:
        with Transaction(tmp_path) as files:
            files.write_bytes("a.onnx", b"new a")
            files.write_bytes("b.onnx", b"new b")
    assert (tmp_path / "a.onnx").read_bytes() == b"new a" and (tmp_path / "b.onnx").read_bytes() == b"new b"
    assert "outputs were written (2 file(s) in" in _one_line(caught.value)
    assert "were not written" in _one_line(KeyboardInterrupt())


@pytest.mark.train
def test_ctrl_c_during_tf2onnx_is_not_swallowed(monkeypatch):
    need("train")
    import tf2onnx
    from snudeploy.converters import tfgraph

    swallowed = []

    def converts_with_bare_excepts(function, input_signature, opset):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10_000))
        except:  # noqa: E722 - what tf2onnx does when reading node attributes
            swallowed.append(True)
        return onnx.ModelProto(), None

    monkeypatch.setattr(tf2onnx.convert, "from_function", converts_with_bare_excepts)
    with pytest.raises(KeyboardInterrupt):
        tfgraph.convert(None, [], 17)
    assert not swallowed


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_entry_point_flushes_its_output_before_it_ends_the_process():
    done = _python("import sys\nfrom snudeploy.cli.main import _exit\nsys.stdout.write('x' * 100_000)\n"
                   "sys.stderr.write('last line')\n_exit(3)")
    assert done.returncode == 3 and len(done.stdout) == 100_000 and done.stderr.endswith("last line")


def test_a_ctrl_c_after_the_command_ended_exits_130():
    done = _python("import os, signal, time\nfrom snudeploy.cli import main\nmain._exit_at_once_on_interrupts()\n"
                   "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)")
    assert done.returncode == 130 and "Traceback" not in done.stderr
