"""Every package folder ships: pyproject's explicit package list misses none."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapped = {name: ROOT / folder for name, folder in config["package-dir"].items()}
    found = {"snudeploy." + ".".join(p.parent.relative_to(ROOT / "snudeploy").parts) if p.parent != ROOT / "snudeploy"
             else "snudeploy" for p in (ROOT / "snudeploy").rglob("__init__.py")}
    found |= {name for name, folder in mapped.items() if (folder / "__init__.py").is_file()}
    assert found == listed
