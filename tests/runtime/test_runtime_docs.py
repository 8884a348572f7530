"""The README's runtime example runs as written, and the runtime never imports TensorFlow."""

import re
import subprocess
import sys
from pathlib import Path

from snu_models import model_bytes, snu_layers

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Runtime"


def test_runtime_does_not_import_tensorflow():
    code = "import snudeploy.runtime, sys; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_embedding_example_runs(tmp_path, monkeypatch, capsys):
    section = README.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"{README}'s {SECTION} section should hold exactly one python example"
    example = blocks[0]
    assert len(example.strip().splitlines()) <= 20
    (tmp_path / "model.onnx").write_bytes(model_bytes(snu_layers([64, 16, 10])))
    monkeypatch.chdir(tmp_path)
    exec(compile(example, str(README), "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    assert re.match(r"\[\d+ \d+ \d+ \d+\] \[\[", printed), printed
