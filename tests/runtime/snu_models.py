"""Small snudeploy ONNX models from random numpy weights, built without TensorFlow.

``converters.customop.build`` gives a valid step or sequence graph; the snudeploy metadata
is added exactly as exporters add it, so the runtime sees what it sees in production.
"""

from __future__ import annotations

import json

import numpy as np
import onnx

from snudeploy import metadata
from snudeploy.converters import customop
from snudeploy.converters.step import build_step
from snudeploy.converters.unrolled import build_unrolled
from snudeploy.encoding import Encoding
from snudeploy.converters.network import SNULayerParams

OPSET = 17
ENCODING = Encoding(timesteps=6, max_spikes=4.0, seed=0)


def snu_layers(sizes, seed=0, *, decay=0.9, g="leaky_relu", activation="step", recurrent=False,
               lateral_inhibition=False) -> list[SNULayerParams]:
    """Layers ``sizes[0] -> sizes[1] -> ...`` with weights that keep every layer spiking."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, units in zip(sizes[:-1], sizes[1:]):
        kernel = rng.normal(0.1, 1.5 / np.sqrt(fan_in), (fan_in, units)).astype(np.float32)
        threshold = rng.uniform(0.8, 1.2, units).astype(np.float32)
        recurrent_kernel = rng.normal(0, 0.3, (units, units)).astype(np.float32) if recurrent else None
        layers.append(SNULayerParams(kernel=kernel, threshold=threshold, recurrent_kernel=recurrent_kernel,
                                     decay=decay, g=g, activation=activation, lateral_inhibition=lateral_inhibition))
    return layers


def model_bytes(layers, graph="step", *, timesteps=None, format="customop", encoding=ENCODING,
                dataset=None, quantization=None, schema_version=None) -> bytes:
    """Serialized model of ``layers`` carrying snudeploy metadata: built by the ``step`` or
    ``unrolled`` builder for those formats, else as a customop graph (``graph`` step or sequence)."""
    if format == "step":
        model = build_step(layers, OPSET)
    elif format == "unrolled":
        model = build_unrolled(layers, OPSET, timesteps)
    else:
        model = customop.build(layers, graph, OPSET, timesteps)
    if isinstance(encoding, dict):
        encoding = Encoding.from_dict(encoding)
    if isinstance(quantization, dict):
        quantization = metadata.Quantization(quantization.get("method", "none"),
                                             {k: v for k, v in quantization.items() if k != "method"})
    info = metadata.build(format, graph, [p.layer() for p in layers], layers[0].features, OPSET,
                          timesteps=timesteps, encoding=encoding, dataset=dataset, quantization=quantization)
    raw = info.to_dict()
    if schema_version is not None:
        raw["schema_version"] = schema_version
    onnx.helper.set_model_props(model, {metadata.METADATA_KEY: json.dumps(raw)})
    return model.SerializeToString()


def spikes(rng, shape, p=0.3) -> np.ndarray:
    """Random uint8 spikes of ``shape``."""
    return (rng.random(shape) < p).astype(np.uint8)


def int8_model_bytes(layers, graph="step", per_channel=True, **kwargs) -> bytes:
    """The model of :func:`model_bytes` with integer MatMuls (snudeploy's int8 graph), taking spikes."""
    import dataclasses

    from snudeploy.quantization import int8

    model = int8.quantize_graph(onnx.load_model_from_string(model_bytes(layers, graph, **kwargs)), per_channel)
    info = metadata.parse({p.key: p.value for p in model.metadata_props}[metadata.METADATA_KEY])
    info = info.replace(input=dataclasses.replace(info.input, binary=True))
    onnx.helper.set_model_props(model, {metadata.METADATA_KEY: info.to_json()})
    return model.SerializeToString()
