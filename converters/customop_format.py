"""The ``customop`` format: both graphs from :func:`snudeploy.converters.customop.build`.

It writes a sequence graph (one ``ai.snudeploy::SNULayer`` node per layer, dynamic T) and
a step graph (one ``SNUCell`` node per layer) built from the same weights; no TensorFlow
graph is traced, the weights come from the loaded Keras model via
:func:`snudeploy.converters.network.from_keras`.
"""

from __future__ import annotations

from . import customop
from .tfgraph import BuildContext


def build(ctx: BuildContext) -> dict:
    return {"sequence": customop.build(ctx.layers, "sequence", opset=ctx.opset),
            "step": customop.build(ctx.layers, "step", opset=ctx.opset)}
