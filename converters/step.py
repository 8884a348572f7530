"""The ``step`` format: one time step with explicit state, for streaming.

Inputs ``x`` [B, F] and every layer's ``l{i}_y``, ``l{i}_s`` [B, U_i]; outputs ``spikes``
[B, C] (the output layer's ``y``) and ``l{i}_y_next``, ``l{i}_s_next``. The batch is
dynamic. About 11 nodes per layer (MatMul, reset, decay, g, Greater + Cast for the spike).
"""

from __future__ import annotations

from .tfgraph import convert, named_outputs, signature, snu_cells


def step_function(cells, features: int):
    """``(tf.function, input_signature)`` of one step through ``cells``, states explicit."""
    import tensorflow as tf

    input_signature = signature(cells, features, "step")

    @tf.function(input_signature=input_signature, autograph=False)
    def snu_step(x, *states):
        h, final = x, []
        for i, cell in enumerate(cells):
            h, (y, s) = cell.call(h, [states[2 * i], states[2 * i + 1]])
            final.append((y, s))
        return named_outputs(h, final, sequence=False)

    return snu_step, input_signature


def build(ctx) -> dict:
    """The format's graphs from an :class:`~snudeploy.converters.exporter.BuildContext`."""
    function, input_signature = step_function(snu_cells(ctx.model), ctx.features)
    return {"step": convert(function, input_signature, ctx.opset)}
