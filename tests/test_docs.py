"""Every bash and python block of README.md and docs/*.md runs as written.

Blocks of one page run in order, in a copy of the repository (so `pip install .` and the documented
`models/...` paths work), with the installed ``snudeploy`` on PATH. Conventions, visible in the pages:

* ``<!-- docs-test: fast -->`` before a block: it takes seconds, so it also runs in the quick lane
  (on its own; fast blocks do not depend on other blocks);
* ``<!-- docs-test: ci-run -->`` before a block: ``.ci/run`` runs it verbatim (the Quick start);
* ``<!-- docs-needs: fashion-mnist nir -->`` under a page's title: its blocks need these (names from
  tests/needs.py) beyond the README's install; the page's test skips, naming how to get them, where one
  is absent (fast blocks need nothing more: they run in the quick lane of a bare install);
* a command line ending in ``# in CI: ARGS`` runs with ARGS appended (smaller settings, said there);
* ``text`` blocks are sample output and ``console`` blocks commands for the reader's own environment
  (installs into it); neither is run here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from needs import NEEDS, need

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- docs-test: (?P<how>[\w-]+) -->\n)?```(?P<language>bash|python)\n(?P<code>.*?)```", re.S)
NEEDS_LINE = re.compile(r"^<!-- docs-needs: (?P<names>[\w -]+) -->$", re.M)
IN_CI = re.compile(r"^(?P<command>.*?)\s+# in CI: (?P<args>.*)$", re.M)
NOT_COPIED = shutil.ignore_patterns(".git", ".venv*", "runs", "__pycache__", "*.egg-info", ".pytest_cache",
                                    ".hypothesis", "build", "dist", "node_modules")


def blocks(page: Path) -> list[dict]:
    return [m.groupdict() for m in BLOCK.finditer(page.read_text())]


def page_needs(page: Path) -> list[str]:
    return [name for m in NEEDS_LINE.finditer(page.read_text()) for name in m["names"].split()]


def as_run(code: str) -> str:
    """The block with its ``# in CI:`` arguments applied."""
    return IN_CI.sub(lambda m: f"{m['command']} {m['args']}", code)


def run_blocks(page: Path, chosen: list[dict], tmp_path: Path) -> None:
    folder = tmp_path / "repository"
    shutil.copytree(ROOT, folder, ignore=NOT_COPIED)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONWARNINGS": "ignore", "TMPDIR": str(tmp_path)}
    for i, block in enumerate(chosen):
        code = as_run(block["code"]).replace("/tmp/", f"{tmp_path}/")
        command = ["bash", "-euo", "pipefail", "-c", code] if block["language"] == "bash" else [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=3600)
        assert done.returncode == 0, (f"{page.name}, block {i + 1}:\n{code}\n--- stdout\n{done.stdout[-3000:]}"
                                      f"\n--- stderr\n{done.stderr[-3000:]}")


def _runnable(page: Path) -> list[dict]:
    return [b for b in blocks(page) if b["how"] != "ci-run"]


@pytest.mark.parametrize("page", [p for p in PAGES if any(b["how"] == "fast" for b in blocks(p))],
                         ids=lambda p: p.name)
def test_fast_blocks_run(page, tmp_path):
    run_blocks(page, [b for b in blocks(page) if b["how"] == "fast"], tmp_path)


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("page", [p for p in PAGES if _runnable(p)], ids=lambda p: p.name)
def test_every_block_runs(page, tmp_path):
    need(*page_needs(page))
    run_blocks(page, _runnable(page), tmp_path)


def test_pages_declare_only_known_needs():
    unknown = {page.name: set(page_needs(page)) - NEEDS.keys() for page in PAGES}
    assert not any(unknown.values()), unknown


def test_the_testing_page_lists_every_need_and_its_command():
    rows = {line.split("|")[1].strip(): line for line in (ROOT / "docs" / "testing.md").read_text().splitlines()
            if line.startswith("| `")}
    for name, entry in NEEDS.items():
        assert f"`{entry.how}`" in rows.get(f"`{name}`", ""), name


def test_quick_start_is_what_ci_runs():
    """README's Quick start: exactly two command lines, which .ci/run runs verbatim."""
    quick = [b for b in blocks(ROOT / "README.md") if b["how"] == "ci-run"]
    assert len(quick) == 1
    lines = [line for line in quick[0]["code"].splitlines() if line.strip()]
    assert len(lines) == 2
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert all(line in ci for line in lines), lines


def test_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert text[:text.index("```python")].count("\n") < 100  # the runtime example is in the first 100 lines
    for page in re.findall(r"\]\(((?:docs|models)/[\w./-]+\.md)\)", text):
        assert (ROOT / page).is_file(), page
