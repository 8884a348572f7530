"""snudeploy: Spiking Neural Unit networks from TensorFlow training to ONNX Runtime inference.

Importing the package is cheap: TensorFlow is loaded only by the functions that need it,
so ``import snudeploy.runtime`` stays TensorFlow-free.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "encode_rate": ("snudeploy.encoding", "encode_rate"),
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
