"""What optional tests need beyond the README's install, how to tell it is here, and how to get it.

The one table for test modules (``need("nir")``), the ``train`` marker (conftest.py) and the docs pages
(``<!-- docs-needs: fashion-mnist nir -->``, tests/test_docs.py): a test whose need is absent skips with
the command that provides it. Every pip extra of ``snudeploy.extras`` is a need of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from snudeploy import datasets
from snudeploy.extras import EXTRAS, installed


@dataclass(frozen=True)
class Need:
    what: str
    present: Callable[[], bool]
    how: str  # the command that brings it


def _extra(name: str, modules: tuple[str, ...]) -> Need:
    return Need(f"the [{name}] extra ({', '.join(modules)})", lambda: all(map(installed, modules)),
                f'pip install -e ".[{name}]"')


NEEDS = {
    **{name: _extra(name, modules) for name, modules in EXTRAS.items()},
    "fashion-mnist": Need(f"Fashion-MNIST (Debian's dataset-fashion-mnist, or ${datasets.FASHION_MNIST_VARIABLE} "
                          "naming a folder of its IDX files)", lambda: datasets.fashion_mnist_folder() is not None,
                          "sudo apt-get install dataset-fashion-mnist"),
}


def missing(*names: str) -> str | None:
    """Why a test needing ``names`` cannot run here (what is absent and how to get it), or None."""
    absent = [NEEDS[name] for name in names if not NEEDS[name].present()]
    return "; ".join(f"needs {n.what}: {n.how}" for n in absent) or None


def need(*names: str) -> None:
    """Skip the calling test (or test module, or fixture) unless every need in ``names`` is here."""
    __tracebackhide__ = True  # the skip is reported at the caller's line
    reason = missing(*names)
    if reason:
        pytest.skip(reason, allow_module_level=True)
