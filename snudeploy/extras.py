"""Optional features and the pip extras that bring them, checked before the work starts."""

from __future__ import annotations

import importlib.util

from .errors import MissingExtraError

EXTRAS = {
    "train": ("tensorflow", "tf_keras", "tf2onnx", "tensorflow_model_optimization", "sklearn"),
    "plots": ("matplotlib",),
    "serve": ("tritonclient", "pytriton"),
    "nir": ("nir",),
    "data": ("sktime",),
}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # blocked or half-installed
        return False


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` can be imported."""
    missing = [m for m in EXTRAS[extra] if not installed(m)]
    if missing:
        raise MissingExtraError(f"{feature} needs the [{extra}] extra ({', '.join(missing)} not installed): "
                                f"pip install '.[{extra}]' in a snudeploy clone, or 'snudeploy[{extra}]'.")
