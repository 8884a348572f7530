"""Packaging: pyproject lists every package, and an installed snudeploy is the same package from any folder."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="needs Python 3.11+ (tomllib)")

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapped = {name: ROOT / folder for name, folder in config["package-dir"].items()}
    found = {"snudeploy." + ".".join(p.parent.relative_to(ROOT / "snudeploy").parts) if p.parent != ROOT / "snudeploy"
             else "snudeploy" for p in (ROOT / "snudeploy").rglob("__init__.py")}
    found |= {name for name, folder in mapped.items() if (folder / "__init__.py").is_file()}
    assert found == listed


def test_the_base_install_needs_no_gpu_package():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("onnxruntime>=") for d in dependencies)
    assert not any("onnxruntime-gpu" in d for d in dependencies)


@pytest.mark.slow
def test_a_non_editable_install_imports_whole_from_the_repository_root_and_elsewhere(tmp_path):
    """``pip install .`` copies the package; a Python started in the checkout finds the source folder first,
    which must then be the whole package too (converters/ and runtime/ sit beside it)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # numpy, onnx, ... from here
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(ROOT)],
                   check=True, capture_output=True)
    code = ("import snudeploy, snudeploy.runtime, snudeploy.converters, snudeploy.quantization; "
            "from snudeploy.converters import export; print(snudeploy.__file__)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for folder, expected in ((ROOT, ROOT / "snudeploy"), (tmp_path, Path(site) / "snudeploy")):
        done = subprocess.run([str(python), "-c", code], cwd=folder, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip()).parent == expected
    installed = subprocess.run([str(venv / "bin" / "snudeploy"), "run", str(ROOT / "models/digits-snu/step.int8.onnx"),
                                "--limit", "40"], capture_output=True, text=True, cwd=tmp_path)
    assert installed.returncode == 0 and "accuracy" in installed.stdout, installed.stderr
