"""The ``loop`` format: a whole sequence of any length T (one ONNX ``Loop`` per stateful layer).

The network's Keras layers run with their initial states given and their final states
returned (dense SNU cells inside Keras ``RNN`` layers, conv SNU layers with
``return_state``), and their ``tf.while_loop`` becomes ONNX ``Loop`` nodes through tf2onnx.
Inputs ``x`` [B, T, *input shape] (T dynamic) and the initial states; outputs ``rates``,
``spikes`` [B, T, C] and the final states.
"""

from __future__ import annotations

from ..readouts import Readout
from .tfgraph import convert, named_outputs, signature, stateful_runner, stateless_runner


def loop_function(network, readout: Readout = Readout()):
    import tensorflow as tf

    input_signature = signature(network, None)
    runners = [stateful_runner(layer) if layer.spec.stateful else stateless_runner(layer)
               for layer in network.layers]

    @tf.function(input_signature=input_signature)
    def snu_loop(x, *states):
        h, final, k = x, {}, 0
        for i, (layer, run) in enumerate(zip(network.layers, runners)):
            if layer.spec.stateful:
                count = len(layer.spec.STATES)
                h, *new = run(h, *states[k:k + count])
                final[i], k = tuple(new), k + count
            else:
                h = run(h)
        return named_outputs(h, final, sequence=True, network=network, readout=readout)

    return snu_loop, input_signature


def build(ctx) -> dict:
    """The format's graphs from an :class:`~snudeploy.converters.exporter.BuildContext`."""
    function, input_signature = loop_function(ctx.network, ctx.readout)
    return {"sequence": convert(function, input_signature, ctx.opset)}
