"""Small snudeploy ONNX models from random numpy weights, built without TensorFlow.

The format builders (``step``, ``unrolled``, ``customop``) give valid step or sequence graphs;
the snudeploy metadata and its digest are attached exactly as exporters attach them, so the
runtime sees what it sees in production.
"""

from __future__ import annotations

import json

import numpy as np
import onnx

from snudeploy import digest, kinds, metadata
from snudeploy.converters import customop
from snudeploy.converters.network import Network, dense
from snudeploy.converters.step import build_step
from snudeploy.converters.unrolled import build_unrolled
from snudeploy.encoding import Encoder, Encoding
from snudeploy.readouts import Readout

OPSET = 17
ENCODING = Encoding(timesteps=6, max_spikes=4.0, seed=0)


def snu_layers(sizes, seed=0, *, decay=0.9, g="leaky_relu", activation="step", recurrent=False,
               lateral_inhibition=False) -> Network:
    """A dense network ``sizes[0] -> sizes[1] -> ...`` with weights that keep every layer spiking."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, units in zip(sizes[:-1], sizes[1:]):
        kernel = rng.normal(0.1, 1.5 / np.sqrt(fan_in), (fan_in, units)).astype(np.float32)
        threshold = rng.uniform(0.8, 1.2, units).astype(np.float32)
        recurrent_kernel = rng.normal(0, 0.3, (units, units)).astype(np.float32) if recurrent else None
        layers.append(dense(kernel, threshold, recurrent_kernel, decay=decay, g=g, activation=activation,
                            lateral_inhibition=lateral_inhibition))
    return Network.build((sizes[0],), layers)


def integrator_network(sizes, seed=0, *, decay=0.8) -> Network:
    """Dense SNU layers ``sizes[0] -> ... -> sizes[-2]`` (spiking) and a leaky-integrator output layer of
    ``sizes[-1]`` units (the membrane readout's), with random weights and biases."""
    rng = np.random.default_rng(seed + 1)
    hidden = list(snu_layers(sizes[:-1], seed).layers)
    kernel = rng.normal(0, 1, (sizes[-2], sizes[-1])).astype(np.float32)
    bias = rng.normal(0, 0.1, sizes[-1]).astype(np.float32)
    layers = [(layer.spec, layer.weights) for layer in hidden]
    layers.append((kinds.LeakyIntegrator(units=sizes[-1], decay=decay), {"kernel": kernel, "bias": bias}))
    return Network.build((sizes[0],), layers)


def conv_network(input_shape=(8, 8, 2), seed=0, *, filters=(4, 6), strides=(1, 2), padding="same",
                 pool="sum_pool2d", classes=5, decay=0.9, g="leaky_relu", margin=1e-3) -> Network:
    """conv -> pool -> conv -> flatten -> dense, with random weights; each threshold is set so that about 30 % of
    its layer's units spike at the first step of random input spikes (the oracle's own numpy, layer by layer).

    Such a quantile of sums of spikes is itself one of the sums, so float rounding (the order a kernel sums in)
    decides whether those units spike; ``margin`` is added to every threshold, moving it off them."""
    from snu_reference import conv2d, pool2d

    rng = np.random.default_rng(seed)
    specs = [kinds.ConvSNU(filters=filters[0], kernel_size=3, strides=strides[0], padding=padding, decay=decay, g=g),
             kinds.parse({"kind": pool, "pool_size": 2}),
             kinds.ConvSNU(filters=filters[1], kernel_size=(3, 2), strides=strides[1], padding=padding, decay=decay,
                           g=g),
             kinds.Flatten(),
             kinds.DenseSNU(units=classes, decay=decay, g=g)]
    layers, shape = [], tuple(input_shape)
    probe = (rng.random((64, *shape)) < 0.4).astype(np.float32)
    for spec in specs:
        weights = {}
        if isinstance(spec, kinds.ConvSNU):
            kernel = rng.normal(0, 1, (*spec.kernel_size, shape[-1], spec.filters)).astype(np.float32)
            projected = conv2d(probe, kernel, spec.strides, spec.padding)
            weights = {"kernel": kernel, "threshold": np.quantile(projected, 0.7, axis=(0, 1, 2)) + margin}
            probe = (projected > weights["threshold"]).astype(np.float32)
        elif isinstance(spec, kinds.DenseSNU):
            kernel = rng.normal(0, 1, (shape[0], spec.units)).astype(np.float32)
            projected = probe @ kernel
            weights = {"kernel": kernel, "threshold": np.quantile(projected, 0.7, axis=0) + margin}
            probe = (projected > weights["threshold"]).astype(np.float32)
        elif spec.kind == "flatten":
            probe = probe.reshape(len(probe), -1)
        else:
            probe = pool2d(probe, spec.pool_size, spec.kind == "avg_pool2d")
        layers.append((spec, {k: np.asarray(v, np.float32) for k, v in weights.items()}))
        shape = spec.output_shape(shape)
    return Network.build(input_shape, layers)


def model_bytes(network: Network, graph="step", *, timesteps=None, format="customop", encoding=ENCODING,
                dataset=None, quantization=None, schema_version=None, readout=None) -> bytes:
    """Serialized, sealed model of ``network`` carrying snudeploy metadata: built by the ``step`` or
    ``unrolled`` builder for those formats, else as a customop graph (``graph`` step or sequence)."""
    readout = Readout.from_dict(readout or ("membrane" if isinstance(network.layers[-1].spec, kinds.LeakyIntegrator)
                                            else "mean_rate"))
    if format == "step":
        model = build_step(network, OPSET)
    elif format == "unrolled":
        model = build_unrolled(network, OPSET, timesteps, readout)
    else:
        model = customop.build(network, graph, OPSET, timesteps, readout)
    if isinstance(encoding, dict):
        encoding = Encoder.from_dict(encoding)
    if isinstance(quantization, dict):
        quantization = metadata.Quantization(quantization.get("method", "none"),
                                             {k: v for k, v in quantization.items() if k != "method"})
    info = metadata.build(format, graph, network.metadata_layers(), network.input_shape, OPSET,
                          timesteps=timesteps, encoding=encoding, dataset=dataset, quantization=quantization,
                          readout=readout)
    raw = info.to_dict()
    if schema_version is not None:
        raw["schema_version"] = schema_version
    return digest.attach(model, json.dumps(raw))


def reseal(payload: bytes, change) -> bytes:
    """``payload`` with ``change(raw metadata dict)`` applied and sealed again (a consistent file that lies)."""
    model = onnx.load_model_from_string(payload)
    raw = json.loads({p.key: p.value for p in model.metadata_props}[metadata.METADATA_KEY])
    change(raw)
    return digest.attach(model, json.dumps(raw))


def spikes(rng, shape, p=0.3) -> np.ndarray:
    """Random uint8 spikes of ``shape``."""
    return (rng.random(shape) < p).astype(np.uint8)


def int8_model_bytes(network: Network, graph="step", per_channel=True, **kwargs) -> bytes:
    """The model of :func:`model_bytes` with integer products (snudeploy's int8 graph), taking spikes."""
    import dataclasses

    from snudeploy.quantization import int8

    model = int8.quantize_graph(onnx.load_model_from_string(model_bytes(network, graph, **kwargs)), per_channel)
    info = metadata.parse({p.key: p.value for p in model.metadata_props}[metadata.METADATA_KEY])
    info = info.replace(input=dataclasses.replace(info.input, binary=True),
                        quantization=metadata.Quantization("ptq", {"bits": 8, "arithmetic": "integer"}))
    return digest.attach(model, info.to_json())
