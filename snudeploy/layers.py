"""Spiking Neural Unit (SNU) layers for Keras 3 and tf-keras.

For each time step t, with states (y, s) starting at zero (Woźniak et al., 2020)::

    r_{t-1} = 1 - y_{t-1}                      (basic SNU: each unit resets itself)
    r_{t-1} = 1 - max_j y_{t-1, j}             (lateral inhibition, per sample)
    s_t = g(W x_t [+ H y_{t-1}] + decay * s_{t-1} * r_{t-1})
    y_t = h(s_t - b)

``h`` is the Heaviside step with a tanh-derivative surrogate gradient (spiking SNU) or
the sigmoid (soft sSNU); ``b`` is a trainable threshold initialised to 1.

Example (the neuroaikit tutorial's model, only the import changed)::

    from snudeploy.layers import SNU
    from snudeploy.activations import leaky_rel
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=[None, 784]),
        SNU(250, decay=0.9, g=leaky_rel, return_sequences=True),
        SNU(10, decay=0.9, g=leaky_rel, return_sequences=True),
        tf.keras.layers.GlobalAveragePooling1D()])

The code uses ``tf.keras`` only, so it runs under Keras 3 and, with
``TF_USE_LEGACY_KERAS=1`` set before TensorFlow is imported, under tf-keras (Keras 2).
"""

from __future__ import annotations

import tensorflow as tf

from . import activation_table, activations, arguments, kinds, readouts
from .kinds.base import pair

keras = tf.keras


@keras.utils.register_keras_serializable(package="snudeploy")
class SNUCell(keras.layers.Layer):
    """One SNU time step: ``call(x_t, [y, s]) -> (y_t, [y_t, s_t])``.

    Shapes: ``x_t`` [B, F]; ``y`` and ``s`` [B, units].
    """

    def __init__(self, units, decay=0.8, g="identity", activation="step", recurrent=False,
                 lateral_inhibition=False, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        self.units = arguments.limited(units, "units", "units")
        self.decay = arguments.number(decay, "decay", 0, 1)
        self.g_name = activation_table.state_function_name(g)
        self.activation_name = activation_table.output_activation_name(activation)
        self.recurrent = bool(recurrent)
        self.lateral_inhibition = bool(lateral_inhibition)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self._g = activations.function(self.g_name)
        self._h = activations.function(self.activation_name)
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        features = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(features, self.units),
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = None
        if self.recurrent:
            self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, self.units),
                                                    initializer=self.recurrent_initializer)
        self.threshold = self.add_weight(name="threshold", shape=(self.units,),
                                         initializer=keras.initializers.Ones())
        self.built = True

    def call(self, inputs, states, training=None):
        return self.recur(tf.matmul(tf.cast(inputs, self.kernel.dtype), self.kernel), states)

    def recur(self, projected, states):
        """The step after the input projection: ``projected`` is ``W x_t`` [B, units].

        :class:`RNN` loops over this alone when it has computed ``W x`` for every step at once.
        """
        y_prev, s_prev = states[0], states[1]
        if self.lateral_inhibition:
            reset = 1.0 - tf.reduce_max(y_prev, axis=-1, keepdims=True)
        else:
            reset = 1.0 - y_prev
        pre = projected + self.decay * s_prev * reset
        if self.recurrent:
            pre = pre + tf.matmul(y_prev, self.recurrent_kernel)
        s = self._g(pre)
        y = self._h(s - self.threshold)
        return y, [y, s]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "decay": self.decay,
            "g": self.g_name,
            "activation": self.activation_name,
            "recurrent": self.recurrent,
            "lateral_inhibition": self.lateral_inhibition,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
        }


@keras.utils.register_keras_serializable(package="snudeploy")
class RNN(keras.layers.RNN):
    """``keras.layers.RNN`` that trains an :class:`SNUCell` with ``W x`` hoisted out of the time loop.

    In training, ``W x_t`` of all T steps is one matmul ``[B*T, F] x [F, U]`` before the loop,
    and the loop (a ``tf.while_loop`` over time) runs only :meth:`SNUCell.recur` on the
    projections: one large product instead of T small ones, forward and backward, and a loop
    body of a few elementwise ops, which XLA fuses. Everything else (inference, masks,
    initial states, ``return_state``, ``go_backwards``) is the plain Keras loop over the cell's
    ``call``, which exports are validated against spike for spike: the hoisted product sums in
    another order (B*T rows instead of B), so its spikes may differ from the step-by-step ones
    by rounding, which costs training nothing.

    It is named ``RNN`` because Keras 3 weight files address a layer by its class name, so
    SNU checkpoints keep their ``layers/rnn*`` paths and load under either class.
    """

    def call(self, sequences, mask=None, training=None, initial_state=None, **kwargs):  # Keras 3's names
        hoist = (training is True and mask is None and initial_state is None and not kwargs
                 and isinstance(self.cell, SNUCell)
                 and not (self.return_state or self.go_backwards or self.stateful))
        if not hoist:
            return super().call(sequences, mask=mask, training=training, initial_state=initial_state, **kwargs)
        cell = self.cell
        x = tf.cast(sequences, cell.kernel.dtype)
        shape = tf.shape(x)
        projected = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), cell.kernel)  # [B*T, U]
        projected = tf.transpose(tf.reshape(projected, [shape[0], shape[1], cell.units]), [1, 0, 2])
        steps = tf.TensorArray(projected.dtype, size=shape[1]).unstack(projected)

        def step(t, states, spikes):
            y, states = cell.recur(steps.read(t), states)
            return t + 1, states, spikes.write(t, y)

        zeros = tf.zeros([shape[0], cell.units], projected.dtype)
        _, _, spikes = tf.while_loop(lambda t, *_: t < shape[1], step,
                                     (0, [zeros, zeros], tf.TensorArray(projected.dtype, size=shape[1])),
                                     maximum_iterations=shape[1])
        spikes = spikes.stack()  # [T, B, U]
        return tf.transpose(spikes, [1, 0, 2]) if self.return_sequences else spikes[-1]


def SNU(units, decay=0.8, g="identity", activation="step",
        recurrent=False, lateral_inhibition=False, **rnn_kwargs):
    """An :class:`RNN` layer around an :class:`SNUCell` (neuroaikit's ``aitf.layers.SNU``).

    RNN arguments such as ``return_sequences`` and ``name`` pass through. The soft sSNU is
    ``activation="sigmoid"``.
    """
    cell = SNUCell(units, decay=decay, g=g, activation=activation, recurrent=recurrent,
                   lateral_inhibition=lateral_inhibition)
    return RNN(cell, **rnn_kwargs)


def sSNU(units, **kwargs):
    """The soft SNU: :func:`SNU` with a sigmoid output activation."""
    return SNU(units, activation="sigmoid", **kwargs)


@keras.utils.register_keras_serializable(package="snudeploy")
class SNUConv2D(keras.layers.Layer):
    """A convolutional SNU layer: one SNU per position and filter, over sequences of images.

    For each time step t, with states (y, s) of shape [B, H', W', filters] starting at zero::

        s_t = g(conv(x_t, W) + decay * s_{t-1} * (1 - y_{t-1}))
        y_t = h(s_t - b)

    the cell of :class:`SNUCell` with a 2-D convolution (channels last, Keras' convention)
    as the input projection and one threshold ``b`` per filter. The convolution of all T
    frames runs before the time loop, as one batch of B*T frames (the input does not depend
    on the state), and the loop does elementwise work only, which XLA fuses.

    Example::

        model = tf.keras.Sequential([
            tf.keras.Input(shape=(None, 28, 28, 1)),
            SNUConv2D(32, 3, decay=0.9, g="leaky_relu"),
            SumPooling2D(2),
            tf.keras.layers.Reshape((-1, 14 * 14 * 32)),
            SNU(10, decay=0.9, g="leaky_relu", return_sequences=True),
            tf.keras.layers.GlobalAveragePooling1D()])

    Shapes: inputs [B, T, H, W, C] -> [B, T, H', W', filters] (``return_sequences``) or the
    last step [B, H', W', filters]; with ``return_state`` also the final (y, s).
    ``initial_state``: [y0, s0], each [B, H', W', filters].
    """

    def __init__(self, filters, kernel_size, strides=1, padding="same", decay=0.8, g="identity", activation="step",
                 return_sequences=True, return_state=False, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        spec = kinds.ConvSNU(filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                             decay=decay, g=activation_table.state_function_name(g),
                             activation=activation_table.output_activation_name(activation))
        self.filters, self.kernel_size, self.strides, self.padding = (spec.filters, spec.kernel_size, spec.strides,
                                                                      spec.padding)
        self.decay, self.g_name, self.activation_name = spec.decay, spec.g, spec.activation
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self._spec = spec
        self._g = activations.function(self.g_name)
        self._h = activations.function(self.activation_name)

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(f"SNUConv2D takes sequences of images [batch, time, height, width, channels], "
                             f"got shape {tuple(input_shape)}.")
        self.frame_shape = tuple(int(d) for d in input_shape[2:])
        self.output_frame = self._spec.output_shape(self.frame_shape)
        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, self.frame_shape[-1], self.filters),
                                      initializer=self.kernel_initializer)
        self.threshold = self.add_weight(name="threshold", shape=(self.filters,), initializer=keras.initializers.Ones())
        self.built = True

    def call(self, inputs, initial_state=None, training=None, return_state=None):
        """``return_state`` overrides the layer's setting for this call (export validation uses it)."""
        return_state = self.return_state if return_state is None else return_state
        x = tf.cast(inputs, self.kernel.dtype)
        batch, steps = tf.shape(x)[0], tf.shape(x)[1]
        frames = tf.reshape(x, [-1, *self.frame_shape])
        projected = tf.nn.conv2d(frames, self.kernel, strides=self.strides, padding=self.padding.upper())
        projected = tf.reshape(projected, tf.concat([[batch, steps], self.output_frame], 0))
        projected = tf.transpose(projected, [1, 0, 2, 3, 4])  # time major
        zeros = tf.zeros(tf.concat([[batch], self.output_frame], 0), projected.dtype)
        y0, s0 = (zeros, zeros) if initial_state is None else (initial_state[0], initial_state[1])
        steps_in = tf.TensorArray(projected.dtype, size=steps).unstack(projected)

        def step(t, y, s, spikes):
            y, s = self.recur(steps_in.read(t), y, s)
            return t + 1, y, s, spikes.write(t, y)

        _, y, s, spikes = tf.while_loop(lambda t, *_: t < steps, step,
                                        (0, y0, s0, tf.TensorArray(projected.dtype, size=steps)),
                                        maximum_iterations=steps)
        out = tf.transpose(spikes.stack(), [1, 0, 2, 3, 4]) if self.return_sequences else y
        out.set_shape([*inputs.shape[:2 if self.return_sequences else 1], *self.output_frame])  # keep a static T
        return [out, y, s] if return_state else out

    def step(self, frame, y_prev, s_prev):
        """One time step on frames [B, H, W, C] with the states of the previous step: ``(y, s)``."""
        projected = tf.nn.conv2d(tf.cast(frame, self.kernel.dtype), self.kernel, strides=self.strides,
                                 padding=self.padding.upper())
        return self.recur(projected, y_prev, s_prev)

    def recur(self, projected, y_prev, s_prev):
        """One step after the convolution: the SNU cell at every position."""
        s = self._g(projected + self.decay * s_prev * (1.0 - y_prev))
        y = self._h(s - self.threshold)
        return y, s

    def compute_output_shape(self, input_shape):
        out = self._spec.output_shape(tuple(input_shape[2:]))
        sequence = (input_shape[0], input_shape[1], *out) if self.return_sequences else (input_shape[0], *out)
        return [sequence, (input_shape[0], *out), (input_shape[0], *out)] if self.return_state else sequence

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "decay": self.decay, "g": self.g_name,
                "activation": self.activation_name, "return_sequences": self.return_sequences,
                "return_state": self.return_state,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


class _Pooling2D(keras.layers.Layer):
    """Non-overlapping pooling over the last three axes [..., H, W, C] of any leading axes (time too)."""

    average = False

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pair(pool_size, "pool_size")

    def call(self, inputs):
        (ph, pw), (height, width, channels) = self.pool_size, inputs.shape[-3:]
        h, w = height // ph, width // pw
        x = inputs[..., :h * ph, :w * pw, :]
        windows = tf.reshape(x, tf.concat([tf.shape(x)[:-3], [h, ph, w, pw, channels]], 0))
        pooled = tf.reduce_sum(windows, axis=[-4, -2])
        return pooled / float(ph * pw) if self.average else pooled

    def compute_output_shape(self, input_shape):
        (ph, pw), (height, width, channels) = self.pool_size, input_shape[-3:]
        return (*input_shape[:-3], height // ph, width // pw, channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size)}


@keras.utils.register_keras_serializable(package="snudeploy")
class SumPooling2D(_Pooling2D):
    """Sum of each non-overlapping ``pool_size`` window, per channel, over [..., H, W, C] (no padding).

    Sums of spikes are whole numbers, so int8 graphs keep an integer product after this layer.
    """


@keras.utils.register_keras_serializable(package="snudeploy")
class AvgPooling2D(_Pooling2D):
    """Mean of each non-overlapping ``pool_size`` window, per channel, over [..., H, W, C] (no padding).

    ``TimeDistributed(AveragePooling2D(pool_size))`` computes the same; this layer takes any
    leading axes directly, which keeps a dynamic time axis cheap.
    """

    average = True


@keras.utils.register_keras_serializable(package="snudeploy")
class LeakyIntegratorCell(keras.layers.Layer):
    """One step of a non-spiking leaky integrator: ``v_t = (x_t W + b) + decay * v_{t-1}``, output ``v_t``.

    The output layer of the ``membrane`` readout (:mod:`snudeploy.kinds.integrator`). Shapes:
    ``x_t`` [B, F]; ``v`` [B, units].
    """

    def __init__(self, units, decay=0.9, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = arguments.limited(units, "units", "units")
        self.decay = arguments.number(decay, "decay", 0, 1)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.state_size = [units]
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(int(input_shape[-1]), self.units),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=keras.initializers.Zeros())
        self.built = True

    def call(self, inputs, states, training=None):
        v = (tf.matmul(tf.cast(inputs, self.kernel.dtype), self.kernel) + self.bias) + self.decay * states[0]
        return v, [v]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "decay": self.decay,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def LeakyIntegrator(units, decay=0.9, **rnn_kwargs):
    """A Keras ``RNN`` around a :class:`LeakyIntegratorCell` (``return_sequences`` etc. pass through)."""
    return RNN(LeakyIntegratorCell(units, decay=decay), **rnn_kwargs)


@keras.utils.register_keras_serializable(package="snudeploy")
class Readout(keras.layers.Layer):
    """A readout of :mod:`snudeploy.readouts` over time: ``[B, T, C] -> [B, C]``, honouring a Keras mask.

    ``spike_count`` sums the valid steps, ``membrane`` takes the last valid step
    (``reduce="last"``) or the maximum over the valid steps (``"max"``). (``mean_rate`` is
    ``GlobalAveragePooling1D``, which checkpoints have always held.)
    """

    def __init__(self, kind="spike_count", reduce=None, **kwargs):
        super().__init__(**kwargs)
        self.readout = readouts.Readout(kind, reduce)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        x = tf.cast(inputs, tf.float32)
        valid = tf.ones(tf.shape(x)[:2], tf.bool) if mask is None else tf.cast(mask, tf.bool)
        if self.readout.kind == "spike_count":
            return tf.reduce_sum(x * tf.cast(valid, x.dtype)[..., None], axis=1)
        if self.readout.reduce == "max":
            return tf.reduce_max(tf.where(valid[..., None], x, tf.fill(tf.shape(x), x.dtype.min)), axis=1)
        last = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1) - 1            # the last valid step of each sample
        return tf.gather(x, tf.maximum(last, 0), axis=1, batch_dims=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "kind": self.readout.kind, "reduce": self.readout.reduce}


def spiking_layers(model) -> list:
    """The SNU layers of a Keras model (dense and convolutional), in order."""
    return [layer for layer in model.layers
            if isinstance(layer, SNUConv2D) or isinstance(getattr(layer, "cell", None), SNUCell)]
