"""The SNU activations: one TensorFlow-free table, looked up by name.

Two roles:

* the output activation ``h``: ``"step"`` (Heaviside forward, derivative of tanh as the
  surrogate gradient in training; the spiking SNU) or ``"sigmoid"`` (the soft sSNU);
* the state nonlinearity ``g``: ``"identity"``, ``"leaky_relu"`` (slope 0.1) or ``"relu"``.

Each entry says how the activation is computed in numpy (oracles, NIR), emitted in ONNX
(exporters) and called in TensorFlow (the function named ``keras`` in
:mod:`snudeploy.activations`). Names are what specs and ONNX metadata store; the
TensorFlow functions are accepted wherever names are (resolved by their ``__name__``),
so the neuroaikit tutorial's ``SNU(..., g=leaky_rel)`` works unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigurationError

LEAKY_RELU_ALPHA = 0.1


@dataclass(frozen=True)
class Activation:
    """One activation.

    Attributes:
        name: the stored name.
        role: ``"output"`` (h) or ``"state"`` (g).
        numpy: float32 array -> float32 array.
        onnx_op: the ONNX operator (``"Heaviside"`` means ``Greater(x, 0)`` + ``Cast``).
        onnx_attributes: its attributes.
        keras: the TensorFlow function's name in :mod:`snudeploy.activations`.
        aliases: other names accepted on input.
    """
    name: str
    role: str
    numpy: Callable[[np.ndarray], np.ndarray]
    onnx_op: str
    keras: str
    onnx_attributes: dict = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    binary: bool = False  # outputs are exactly 0 or 1 (spikes)


def _leaky(v):
    return np.where(v >= 0, v, np.float32(LEAKY_RELU_ALPHA) * v).astype(np.float32)


ACTIVATIONS = {a.name: a for a in (
    Activation("step", "output", lambda v: (v > 0).astype(np.float32), "Heaviside", "step_function",
               aliases=("heaviside", "step_function"), binary=True),
    Activation("sigmoid", "output", lambda v: (1 / (1 + np.exp(-v))).astype(np.float32), "Sigmoid", "sigmoid"),
    Activation("identity", "state", lambda v: v, "Identity", "identity", aliases=("linear",)),
    Activation("leaky_relu", "state", _leaky, "LeakyRelu", "leaky_rel", {"alpha": LEAKY_RELU_ALPHA},
               aliases=("leaky_rel",)),
    Activation("relu", "state", lambda v: np.maximum(v, 0).astype(np.float32), "Relu", "relu"),
)}
OUTPUT_NAMES = tuple(n for n, a in ACTIVATIONS.items() if a.role == "output")
STATE_NAMES = tuple(n for n, a in ACTIVATIONS.items() if a.role == "state")
_KERAS_NAMES = {a.keras: a.name for a in ACTIVATIONS.values()}


def get(name: str) -> Activation:
    """The activation stored as ``name``."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"Unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}.") from None


def resolve(value, role: str) -> str:
    """The stored name of ``value`` (a name, alias, or TensorFlow function) in ``role``.

    Raises:
        ConfigurationError: naming the argument (``activation`` or ``g``) and the choices.
    """
    argument = "activation" if role == "output" else "g"
    name = value
    if callable(value):
        name = _KERAS_NAMES.get(getattr(value, "__name__", None), getattr(value, "__name__", repr(value)))
    if isinstance(name, str):
        name = next((a.name for a in ACTIVATIONS.values() if name == a.name or name in a.aliases), name)
    if not isinstance(name, str) or name not in ACTIVATIONS or ACTIVATIONS[name].role != role:
        choices = OUTPUT_NAMES if role == "output" else STATE_NAMES
        raise ConfigurationError(f"Received an invalid value for argument `{argument}`, expected one of "
                                 f"{sorted(choices)}, got {value!r}.")
    return name


def output_activation_name(value) -> str:
    """The stored name of output activation ``value`` (a name or function)."""
    return resolve(value, "output")


def state_function_name(value) -> str:
    """The stored name of state function ``g`` (a name or function)."""
    return resolve(value, "state")

