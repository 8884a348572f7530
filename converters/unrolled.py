"""The ``unrolled`` format: a whole sequence of fixed length T, time loop unrolled in Python.

Inputs ``x`` [B, T, F] and every layer's initial ``l{i}_y``, ``l{i}_s``; outputs
``rates`` [B, C] (mean output rate), ``spikes`` [B, T, C] and the final states. The graph
holds T copies of the step (about 36 nodes per time step for three layers): the fastest
sequence graph for fixed-length batches, and the largest file.
"""

from __future__ import annotations

from .tfgraph import convert, named_outputs, signature, snu_cells


def unrolled_function(cells, features: int, timesteps: int):
    import tensorflow as tf

    input_signature = signature(cells, features, timesteps)

    @tf.function(input_signature=input_signature, autograph=False)
    def snu_unrolled(x, *states):
        current = [[states[2 * i], states[2 * i + 1]] for i in range(len(cells))]
        outputs = []
        for t in range(timesteps):
            h = x[:, t, :]
            for i, cell in enumerate(cells):
                h, current[i] = cell.call(h, current[i])
            outputs.append(h)
        return named_outputs(tf.stack(outputs, axis=1), current, sequence=True)

    return snu_unrolled, input_signature


def build(ctx) -> dict:
    """The format's graphs from an :class:`~snudeploy.converters.exporter.BuildContext`."""
    function, input_signature = unrolled_function(snu_cells(ctx.model), ctx.features, ctx.timesteps)
    return {"sequence": convert(function, input_signature, ctx.opset)}
