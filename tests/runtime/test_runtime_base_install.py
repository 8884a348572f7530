"""The runtime tests pass with the [train] extra's packages unimportable (a base install)."""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_runtime_suite_passes_without_train_extra():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "base_install_guard", "-p", "no:cacheprovider",
         "-k", "not base_install", "-x"],
        env=env, capture_output=True, text=True, cwd=HERE.parents[1])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
