"""The ``loop`` format: a whole sequence of any length T (one ONNX ``Loop`` per layer).

The checkpoint's cells run inside Keras ``RNN`` layers (``return_state=True``, given the
initial states), whose ``tf.while_loop`` tf2onnx turns into ONNX ``Loop`` nodes. Inputs
``x`` [B, T, F] (T dynamic) and the initial states; outputs ``rates``, ``spikes``
[B, T, C] and the final states.
"""

from __future__ import annotations

from .tfgraph import convert, named_outputs, signature, snu_cells


def loop_function(cells, features: int):
    import tensorflow as tf

    input_signature = signature(cells, features, None)
    rnns = [tf.keras.layers.RNN(cell, return_sequences=True, return_state=True, name=f"snu_loop_{i}")
            for i, cell in enumerate(cells)]

    @tf.function(input_signature=input_signature)
    def snu_loop(x, *states):
        h, final = x, []
        for i, rnn in enumerate(rnns):
            h, y, s = rnn(h, initial_state=[states[2 * i], states[2 * i + 1]])
            final.append((y, s))
        return named_outputs(h, final, sequence=True)

    return snu_loop, input_signature


def build(ctx) -> dict:
    """The format's graphs from an :class:`~snudeploy.converters.exporter.BuildContext`."""
    function, input_signature = loop_function(snu_cells(ctx.model), ctx.features)
    return {"sequence": convert(function, input_signature, ctx.opset)}
