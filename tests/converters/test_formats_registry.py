"""The format registry and the package's import weight (no TensorFlow needed)."""

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from snudeploy.converters import formats
from snudeploy.errors import ConfigurationError

HERE = Path(__file__).parent


def test_registry_declares_the_four_formats_as_data():
    assert formats.names() == ("step", "unrolled", "loop", "customop")
    step, unrolled = formats.get("step"), formats.get("unrolled")
    assert (step.graph, step.needs_timesteps, step.file_name) == ("step", False, "step.onnx")
    assert (unrolled.graph, unrolled.needs_timesteps) == ("sequence", True)
    assert formats.get("customop").files() == {"sequence": "customop.onnx", "step": "customop_step.onnx"}
    assert all(formats.get(n).gates == formats.Gates(1.0, 0.9999) for n in formats.names())
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.file_name = "other.onnx"


def test_unknown_format():
    with pytest.raises(ConfigurationError, match="choose one of step, unrolled, loop, customop or 'all'"):
        formats.get("stepp")
    with pytest.raises(ConfigurationError):
        formats.get(None)
    assert all(callable(f.build) and f.description for f in formats.FORMATS.values())


@pytest.mark.parametrize("opset", [12, 19, 0, True, "17", 17.0])
def test_opsets_outside_13_to_18_are_configuration_errors(opset):
    with pytest.raises(ConfigurationError, match="13-18"):
        formats.check_opset(opset)


def test_opsets_13_to_18_are_accepted():
    assert [formats.check_opset(o) for o in range(13, 19)] == list(range(13, 19))


def test_every_registered_format_has_a_dedicated_test():
    """Guard: adding a format to the registry needs a test named after it."""
    names = set()
    for path in HERE.glob("test_*.py"):
        names |= {node.name for node in ast.walk(ast.parse(path.read_text()))
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    untested = [f for f in formats.names() if not any(f"_{f}" in n for n in names)]
    assert not untested, f"registered formats without a test: {untested}"


def test_cli_format_choices_follow_the_registry():
    from snudeploy.cli.export import export

    option = next(p for p in export.params if p.name == "format_")
    assert list(option.type.choices) == [*formats.names(), "all", "nir"]  # nir: converters/nir_export.py


def test_importing_converters_is_tensorflow_free():
    code = ("import sys, snudeploy.converters; "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf2onnx', 'keras')]; "
            "print(heavy); assert not heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
