"""SNU activations, addressable by name.

Two families:

* the output activation ``h``: ``"step"`` (Heaviside forward, derivative of tanh as the
  surrogate gradient; the spiking SNU) or ``"sigmoid"`` (the soft sSNU);
* the state nonlinearity ``g``: ``"identity"``, ``"leaky_relu"`` (alpha 0.1) or ``"relu"``.

Names are what specs and ONNX metadata store; functions are accepted wherever names
are, so the neuroaikit tutorial's ``g=leaky_rel`` works unchanged.
"""

from __future__ import annotations

import tensorflow as tf

from .errors import ConfigurationError


@tf.custom_gradient
def step_function(x):
    """Heaviside ``x > 0`` forward; ``1 - tanh(x)**2`` backward (surrogate gradient)."""
    spikes = tf.cast(tf.greater(x, 0.0), x.dtype)  # a scalar: exports as Greater + Cast only

    def grad(upstream):
        t = tf.tanh(x)
        return upstream * (1.0 - t * t)

    return spikes, grad


def leaky_rel(x):
    """Leaky ReLU with slope 0.1 for negative inputs (neuroaikit's ``leaky_rel``)."""
    return tf.nn.leaky_relu(x, alpha=0.1)


def identity(x):
    return x


def relu(x):
    return tf.nn.relu(x)


def sigmoid(x):
    return tf.sigmoid(x)


OUTPUT_ACTIVATIONS = {"step": step_function, "sigmoid": sigmoid}
STATE_FUNCTIONS = {"identity": identity, "leaky_relu": leaky_rel, "relu": relu}
_ALIASES = {"leaky_rel": "leaky_relu", "linear": "identity", "heaviside": "step", "step_function": "step"}


def _resolve(value, table: dict, argument: str) -> str:
    if callable(value):
        for name, fn in table.items():
            if value is fn:
                return name
        value = getattr(value, "__name__", repr(value))
    name = _ALIASES.get(value, value)
    if name not in table:
        raise ConfigurationError(
            f"Received an invalid value for argument `{argument}`, expected one of "
            f"{sorted(table)}, got {value!r}.")
    return name


def output_activation_name(value) -> str:
    """The registered name of output activation ``value`` (a name or function)."""
    return _resolve(value, OUTPUT_ACTIVATIONS, "activation")


def state_function_name(value) -> str:
    """The registered name of state function ``g`` (a name or function)."""
    return _resolve(value, STATE_FUNCTIONS, "g")
