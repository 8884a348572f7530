"""What the tf2onnx formats share: explicit-state ``tf.function`` signatures and conversion.

The functions run the network's own Keras layers (SNU layers with their states passed in
and returned), so the exported arithmetic is the Keras layers' own ``call``. tf2onnx names
graph inputs after the ``TensorSpec`` names and dict outputs after their keys (it flattens
dicts sorted by key); every output is wrapped in ``tf.identity`` so that no two keys share a
tensor (the output layer's ``y`` is both ``spikes`` and ``l{n}_y_next``), and the contract
names are checked after conversion (:func:`snudeploy.converters.checks.check_loads`).
"""

from __future__ import annotations

import onnx

from .. import interrupts
from ..errors import ExportError
from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME, state_names
from ..readouts import Readout
from .network import Network


def stateful_runner(layer):
    """``run(h [B, T, ...], *initial states) -> (outputs [B, T, ...], *final states)`` for a stateful network
    layer, its states in the kind's order (``STATES``: y, s for SNU layers; v for a leaky integrator)."""
    import tensorflow as tf

    keras_layer = layer.keras
    if keras_layer is None:
        raise ExportError("This network was not read from a Keras model; the loop format needs one.")
    if getattr(keras_layer, "cell", None) is not None:  # a dense layer: its cell inside a Keras RNN returning states
        rnn = tf.keras.layers.RNN(keras_layer.cell, return_sequences=True, return_state=True)
        return lambda h, *states: rnn(h, initial_state=list(states))
    return lambda h, *states: keras_layer(h, initial_state=list(states), return_state=True)


def stateless_runner(layer):
    """The Keras layer of a stateless network layer, as its kind builds it (dynamic T, no ``TimeDistributed``)."""
    import tensorflow as tf

    from .. import layers

    return layer.spec.keras_layer(tf.keras, layers, None, layer.input_shape)


def step_function(network: Network):
    """``step(x, *states) -> {spikes, l{i}_y_next, l{i}_s_next}``: one time step of the network's Keras layers
    with explicit states (what a TensorFlow streaming server would run), and its input signature."""
    import tensorflow as tf

    input_signature = signature(network, "step")
    runners = [None if layer.spec.stateful else stateless_runner(layer) for layer in network.layers]

    @tf.function(input_signature=input_signature, autograph=False)
    def snu_step(x, *states):
        h, final, k = x, {}, 0
        for i, (layer, run) in enumerate(zip(network.layers, runners)):
            if run is not None:  # stateless: the kind's layer on a sequence of one step
                h = tf.squeeze(run(h[:, None]), axis=1)
                continue
            count = len(layer.spec.STATES)
            given, keras_layer = list(states[k:k + count]), layer.keras
            if getattr(keras_layer, "cell", None) is not None:
                h, new = keras_layer.cell.call(h, given)
            else:
                new = keras_layer.step(h, *given)
                h = new[0]
            final[i], k = tuple(new), k + count
        return named_outputs(h, final, sequence=False, network=network)

    return snu_step, input_signature


def signature(network: Network, time: int | None | str = "step") -> list:
    """``[x, l{i}_y, l{i}_s, ...]`` as ``tf.TensorSpec``; ``time="step"`` gives x [B, *in], else [B, time, *in]."""
    import tensorflow as tf

    x_shape = [None, *network.input_shape] if time == "step" else [None, time, *network.input_shape]
    specs = [tf.TensorSpec(x_shape, tf.float32, name=INPUT_NAME)]
    for i, layer in network.stateful():
        specs += [tf.TensorSpec([None, *layer.output_shape], tf.float32, name=name)
                  for _, name, _ in state_names(i, layer.spec.STATES)]
    return specs


def named_outputs(spikes, final_states: dict, sequence: bool, network: Network,
                  readout: Readout = Readout()) -> dict:
    """The contract's output dict: ``spikes``, (``rates``: the readout's scores,) and every stateful
    layer's next states."""
    import tensorflow as tf

    outputs = {SPIKES_NAME: tf.identity(spikes)}
    if sequence:
        outputs[RATES_NAME] = (tf.reduce_mean(spikes, axis=1) if readout.kind != "membrane"
                               else tf.reduce_max(spikes, axis=1) if readout.reduce == "max" else spikes[:, -1])
    for i, values in final_states.items():
        for (_, _, name), value in zip(state_names(i, network.layers[i].spec.STATES), values):
            outputs[name] = tf.identity(value)
    return outputs


def convert(function, input_signature, opset: int) -> onnx.ModelProto:
    """tf2onnx ``from_function``, then readable symbolic dims (``batch``, ``time``).

    Ctrl-C is held until tf2onnx returns: its bare ``except:`` clauses would swallow it and
    go on with a half-read graph.
    """
    import tf2onnx

    try:
        with interrupts.held():
            model, _ = tf2onnx.convert.from_function(function, input_signature=input_signature, opset=opset)
    except Exception as e:  # tf2onnx raises bare exceptions of many kinds
        raise ExportError(f"tf2onnx could not convert the graph ({type(e).__name__}: {e}).") from e
    name_dims(model)
    return model


def name_dims(model: onnx.ModelProto) -> None:
    """Call the first dim of every graph input/output ``batch``, and a free second dim of a sequence ``time``."""
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
        if len(dims) >= 3 and not dims[1].HasField("dim_value"):  # states have static sizes after the batch
            dims[1].dim_param = "time"
