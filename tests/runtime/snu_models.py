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
    """Serialized customop model of ``layers`` carrying snudeploy metadata."""
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
