"""The import graph follows the data flow, and the runtime cannot reach TensorFlow.

Layers (docs/design.md): core -> {keras side, runtime} -> converters -> after (PTQ, bench,
quickstart, serving, NIR) -> cli. An edge may point to its own layer or to one the table
allows; the runtime and the Keras side never import each other. Edges are read from the
source with ``ast`` (module-level and function-level imports alike).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"snudeploy": ROOT / "snudeploy", "snudeploy.converters": ROOT / "converters",
           "snudeploy.runtime": ROOT / "runtime"}
TENSORFLOW = {"tensorflow", "keras", "tf_keras", "tf2onnx", "tensorflow_model_optimization"}

LAYER_OF = [  # first matching prefix wins
    ("snudeploy.cli", "cli"),
    ("snudeploy.bench", "after"), ("snudeploy.quickstart", "after"), ("snudeploy.evaluation", "after"),
    ("snudeploy.quantization.qat", "keras"), ("snudeploy.quantization", "after"),
    ("snudeploy.serve", "after"),
    ("snudeploy.runtime", "runtime"),
    ("snudeploy.converters", "converters"),
    ("snudeploy.activations", "keras"), ("snudeploy.layers", "keras"), ("snudeploy.checkpoint", "keras"),
    ("snudeploy.training", "keras"), ("snudeploy.distributed", "keras"),
    ("snudeploy", "core"),
]
ALLOWED = {
    "core": {"core"},
    "runtime": {"core", "runtime"},
    "keras": {"core", "keras"},
    "converters": {"core", "keras", "runtime", "converters"},
    "after": {"core", "keras", "runtime", "converters", "after"},
    "cli": {"core", "keras", "runtime", "converters", "after", "cli"},
}


def layer(module: str) -> str:
    return next(name for prefix, name in LAYER_OF if module == prefix or module.startswith(prefix + "."))


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if package == "snudeploy" and parts and parts[0] in ("converters", "runtime"):
                continue
            found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Absolute names this module imports (snudeploy modules resolved to the deepest known module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return found


GRAPH = {name: imports(name, path, set(modules())) for name, path in modules().items()}


def test_every_module_has_a_layer():
    assert all(layer(name) in ALLOWED for name in GRAPH)


def test_no_import_runs_against_the_layers():
    backwards = sorted(f"{name} ({layer(name)}) -> {target} ({layer(target)})"
                       for name, targets in GRAPH.items() for target in targets
                       if target.startswith("snudeploy") and target in GRAPH
                       and layer(target) not in ALLOWED[layer(name)])
    assert not backwards, "imports against the layering:\n" + "\n".join(backwards)


def test_tensorflow_is_unreachable_from_the_runtime():
    reachable, todo = set(), [n for n in GRAPH if layer(n) == "runtime"]
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        reachable.add(name)
        todo += [t for t in GRAPH[name] if t in GRAPH]
    offenders = sorted(f"{name} imports {target}" for name in reachable for target in GRAPH[name]
                       if target.split(".")[0] in TENSORFLOW)
    assert reachable and not offenders, offenders


def test_one_place_creates_onnx_runtime_sessions():
    pattern = re.compile(r"InferenceSession\(")
    places = [str(path.relative_to(ROOT)) for path in modules().values() if pattern.search(path.read_text())]
    assert places == ["runtime/providers.py"]


@pytest.mark.parametrize("module", ["snudeploy.runtime", "snudeploy.cli.main"])
def test_importing_the_runtime_and_the_cli_loads_no_tensorflow(module):
    import subprocess
    import sys

    code = (f"import sys, {module}; bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(TENSORFLOW)!r}"
            " or m.split('.')[0] in ('sklearn', 'matplotlib')); print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
