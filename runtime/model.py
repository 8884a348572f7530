"""Loading a snudeploy ONNX file: bytes, parsed metadata and the tensor names to use.

Everything the runtime needs comes from ``metadata_props["snudeploy"]``; tensors are
addressed by the names recorded there (see :mod:`snudeploy.metadata`), never by position,
because exporters such as tf2onnx reorder graph inputs and outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from ..errors import ModelFileError
from ..metadata import METADATA_KEY, ModelInfo, parse


@dataclass(frozen=True)
class StateName:
    """One state tensor: fed as ``input``, returned as ``output``, ``[B, units]``."""
    input: str
    output: str
    units: int


@dataclass(frozen=True)
class LoadedModel:
    """A snudeploy model ready to hand to ONNX Runtime.

    Attributes:
        source: how to name the model in messages (its path, or "model bytes").
        payload: what ONNX Runtime loads: the path (so external data resolves) or the bytes.
        info: the parsed metadata.
        input: name of the input ``x``.
        spikes: name of the output spikes.
        rates: name of the mean-rate output of sequence graphs, else None.
        states: the state tensors, layer by layer.
        fixed_timesteps: the only T a sequence graph accepts, or None when T is free.
        disabled_optimizers: ONNX Runtime graph optimizers the model asks to switch off
            (``quantization.ort_disabled_optimizers``: int8 graphs name fusions that hurt them).
    """
    source: str
    payload: str | bytes
    info: ModelInfo
    input: str
    spikes: str
    rates: str | None
    states: tuple[StateName, ...]
    fixed_timesteps: int | None
    disabled_optimizers: list[str]

    @property
    def sequence(self) -> bool:
        return self.info.graph == "sequence"


def load_model(path_or_bytes: str | os.PathLike | bytes) -> LoadedModel:
    """Read and check a snudeploy ONNX model from a path or from serialized bytes.

    Raises:
        ModelFileError: the file is missing, is not ONNX, is corrupt, lacks snudeploy
            metadata, or was written with a newer metadata schema.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        source, payload = "model bytes", bytes(path_or_bytes)
        proto = _parse(lambda: onnx.load_model_from_string(payload), source)
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        path = Path(path_or_bytes)
        source, payload = str(path), str(path)
        if not path.is_file():
            raise ModelFileError(f"Model file {path} does not exist.")
        proto = _parse(lambda: onnx.load(path, load_external_data=False), source)
    else:
        raise ModelFileError("Expected a model path or the model's bytes, "
                             f"got {type(path_or_bytes).__name__}.")
    props = {p.key: p.value for p in proto.metadata_props}
    info = parse(props.get(METADATA_KEY), source)
    outputs = info.raw.get("outputs") or {}
    return LoadedModel(source=source, payload=payload, info=info, input=_input_name(info, source),
                       spikes=_output_name(outputs, "spikes", source), rates=outputs.get("rates"),
                       states=_states(info, source), fixed_timesteps=_fixed_timesteps(info, proto),
                       disabled_optimizers=_disabled_optimizers(info, source))


def check_graph(model: LoadedModel, inputs: list[str], outputs: list[str]) -> None:
    """Fail early when the graph lacks a tensor its metadata names (a foreign or edited file)."""
    wanted_in = [model.input] + [s.input for s in model.states]
    wanted_out = [model.spikes] + [s.output for s in model.states] + ([model.rates] if model.rates else [])
    missing = [n for n in wanted_in if n not in inputs] + [n for n in wanted_out if n not in outputs]
    if missing:
        raise ModelFileError(f"{model.source}: its metadata names tensors the graph lacks: {', '.join(missing)} "
                             f"(graph inputs {inputs}, outputs {outputs}).")


def _parse(load, source: str) -> onnx.ModelProto:
    try:
        proto = load()
    except (DecodeError, ValueError, OSError) as e:
        raise ModelFileError(f"{source} is not a readable ONNX model: {e}") from None
    if not proto.graph.node and not proto.graph.input:
        raise ModelFileError(f"{source} is not an ONNX model (no graph).")
    return proto


def _input_name(info: ModelInfo, source: str) -> str:
    name = info.raw["input"].get("name") if isinstance(info.raw["input"], dict) else None
    if not name:
        raise ModelFileError(f"{source}: snudeploy metadata does not name the input tensor.")
    return name


def _output_name(outputs: dict, key: str, source: str) -> str:
    name = outputs.get(key)
    if not name:
        raise ModelFileError(f"{source}: snudeploy metadata does not name the '{key}' output.")
    return name


def _states(info: ModelInfo, source: str) -> tuple[StateName, ...]:
    try:
        states = tuple(StateName(e["input"], e["output"], int(info.layers[e["layer"]]["units"]))
                       for e in info.states)
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ModelFileError(f"{source}: snudeploy metadata has a malformed state entry ({e!r}).") from None
    if not states:
        raise ModelFileError(f"{source}: snudeploy metadata lists no state tensors.")
    return states


def _disabled_optimizers(info: ModelInfo, source: str) -> list[str]:
    names = info.quantization.get("ort_disabled_optimizers", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"{source}: quantization.ort_disabled_optimizers must be a list of optimizer names, "
                             f"got {names!r}.")
    return names


def _fixed_timesteps(info: ModelInfo, proto: onnx.ModelProto) -> int | None:
    """T of a sequence graph that only takes one length: the unrolled format, or a fixed input dim."""
    if info.graph != "sequence":
        return None
    declared = next((i.type.tensor_type.shape.dim for i in proto.graph.input if i.name == info.raw["input"]["name"]),
                    None)
    if declared is not None and len(declared) == 3 and declared[1].HasField("dim_value"):
        return int(declared[1].dim_value)
    return int(info.timesteps) if info.format == "unrolled" and info.timesteps else None
