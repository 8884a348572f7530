"""SNU activations in TensorFlow: one function per entry of :mod:`snudeploy.activation_table`.

* the output activation ``h``: :func:`step_function` (Heaviside forward, the derivative of
  tanh as surrogate gradient; the spiking SNU) or :func:`sigmoid` (the soft sSNU);
* the state nonlinearity ``g``: :func:`identity`, :func:`leaky_rel` (slope 0.1), :func:`relu`.

``step_function`` compares with a scalar 0, so it exports as ``Greater`` + ``Cast`` only.
Layers accept these functions or their table names (``"step"``, ``"leaky_relu"``, ...), so
the neuroaikit tutorial's ``from snudeploy.activations import leaky_rel`` works unchanged.
"""

from __future__ import annotations

import tensorflow as tf

from .activation_table import LEAKY_RELU_ALPHA, get, output_activation_name, state_function_name  # noqa: F401


@tf.custom_gradient
def step_function(x):
    """Heaviside ``x > 0`` forward; ``1 - tanh(x)**2`` backward (surrogate gradient)."""
    spikes = tf.cast(tf.greater(x, 0.0), x.dtype)

    def grad(upstream):
        t = tf.tanh(x)
        return upstream * (1.0 - t * t)

    return spikes, grad


def leaky_rel(x):
    """Leaky ReLU with slope 0.1 for negative inputs (neuroaikit's ``leaky_rel``)."""
    return tf.nn.leaky_relu(x, alpha=LEAKY_RELU_ALPHA)


def identity(x):
    return x


def relu(x):
    return tf.nn.relu(x)


def sigmoid(x):
    return tf.sigmoid(x)


def function(name: str):
    """The TensorFlow function of table entry ``name``."""
    return globals()[get(name).keras]
