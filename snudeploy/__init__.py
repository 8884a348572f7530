"""snudeploy: Spiking Neural Unit networks from TensorFlow training to ONNX Runtime inference.

Importing the package is cheap: TensorFlow is loaded only by the functions that need it,
so ``import snudeploy.runtime`` stays TensorFlow-free. Unless you set it yourself,
``TF_CPP_MIN_LOG_LEVEL`` defaults to 2 (TensorFlow's C++ errors only, no grappler or
oneDNN info lines) when TensorFlow is first imported through snudeploy.

A source checkout keeps ``converters/`` and ``runtime/`` beside this folder (installs map
them in as ``snudeploy.converters`` and ``snudeploy.runtime``), so a Python started in the
checkout finds this folder first; the package path is extended to the checkout's root so
that it imports the same, complete package as an installed one.
"""

import os
from importlib import import_module
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_checkout = Path(__file__).resolve().parent.parent
if not (Path(__file__).parent / "runtime").is_dir() and (_checkout / "runtime" / "__init__.py").is_file() \
        and (_checkout / "pyproject.toml").is_file():
    __path__.append(str(_checkout))

__version__ = "0.1.0"

_LAZY = {
    "encode_rate": ("snudeploy.encoding", "encode_rate"),
    "export": ("snudeploy.converters", "export"),
    "load_checkpoint": ("snudeploy.checkpoint", "load_checkpoint"),
    "save_checkpoint": ("snudeploy.checkpoint", "save_checkpoint"),
    "ModelSpec": ("snudeploy.spec", "ModelSpec"),
    "datasets": ("snudeploy.datasets", None),
    "errors": ("snudeploy.errors", None),
    "layers": ("snudeploy.layers", None),
    "activations": ("snudeploy.activations", None),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'snudeploy' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = import_module(module_name)
    return module if attribute is None else getattr(module, attribute)
