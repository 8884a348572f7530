"""Loading a snudeploy ONNX file: bytes, checked metadata, and a graph that matches it.

Everything the runtime needs comes from ``metadata_props["snudeploy"]``; tensors are
addressed by the names recorded there (see :mod:`snudeploy.metadata`), never by position,
because exporters such as tf2onnx reorder graph inputs and outputs.

A model file is untrusted input. Before ONNX Runtime sees it, :func:`load_model` checks
that it is a regular file of bounded size, parses it, checks its seal (:mod:`snudeploy.digest`:
a flipped or edited byte is refused as corrupted), parses the metadata, and checks the graph
against the metadata - every fact both state: names, ranks, sizes and element types of the
input, states and outputs, the fixed T of an unrolled graph, and the int8 claim against the
graph's integer operators - against the operators snudeploy's own exporters emit for that
format (:mod:`.operators`), and that no weight is NaN or Inf. Any failure is a
:class:`~snudeploy.errors.ModelFileError` naming the field and both values.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from .. import digest
from ..errors import ModelFileError
from ..metadata import METADATA_KEY, ModelInfo, State, parse
from .operators import INTEGER_OPS, check_operators, used_operators

MAX_MODEL_BYTES = 1 << 30  # 1 GiB; snudeploy's largest reference model is ~1 MB


@dataclass(frozen=True)
class LoadedModel:
    """A checked snudeploy model, ready to hand to ONNX Runtime.

    Attributes:
        source: how to name the model in messages (its path, or "model bytes").
        payload: what ONNX Runtime loads: the path (so external data resolves) or the bytes.
        info: the parsed metadata.
        fixed_timesteps: the only T a sequence graph accepts, or None when T is free.
    """
    source: str
    payload: str | bytes
    info: ModelInfo
    fixed_timesteps: int | None

    @property
    def input(self) -> str:
        return self.info.input.name

    @property
    def spikes(self) -> str:
        return self.info.outputs.spikes

    @property
    def rates(self) -> str | None:
        return self.info.outputs.rates

    @property
    def states(self) -> tuple[State, ...]:
        return self.info.states

    @property
    def sequence(self) -> bool:
        return self.info.graph == "sequence"

    @property
    def disabled_optimizers(self) -> tuple[str, ...]:
        return self.info.quantization.ort_disabled_optimizers


def load_model(path_or_bytes, trust_operators: bool = False, check_digest: bool = True) -> LoadedModel:
    """Read and check a snudeploy ONNX model from a path or from serialized bytes.

    Args:
        path_or_bytes: a file path or the model's bytes.
        trust_operators: accept operators snudeploy's exporters do not emit for the model's
            format (for graphs you built yourself; the other checks still apply).
        check_digest: refuse a file whose bytes do not match its seal (False: files you edited
            on purpose; every other check still applies).

    Raises:
        ModelFileError: the file is missing, not a regular file, too large, not ONNX, corrupt,
            lacks snudeploy metadata, was written with a newer metadata schema, or does not
            match its metadata.
    """
    proto, data, source, payload = _read(path_or_bytes)
    props = {p.key: p.value for p in proto.metadata_props}
    info = parse(props.get(METADATA_KEY), source)
    if check_digest:
        digest.check(data, props, source, required=info_version(props) >= 3)
    _check_signature(proto, info, source)
    _check_claims(proto, info, source)
    if not trust_operators:
        check_operators(proto, info, source)
    _check_weights(proto, source, payload)
    return LoadedModel(source=source, payload=payload, info=info, fixed_timesteps=_fixed_timesteps(info, proto))


def info_version(props: dict) -> int:
    """The schema version the file's metadata declares (parse has checked it is an int)."""
    import json

    return json.loads(props[METADATA_KEY])["schema_version"]


def _read(path_or_bytes) -> tuple[onnx.ModelProto, bytes, str, str | bytes]:
    """``(proto, its bytes, how to name it, what ONNX Runtime loads)``."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        payload = bytes(path_or_bytes)
        if len(payload) > MAX_MODEL_BYTES:
            raise ModelFileError(f"The model bytes exceed {MAX_MODEL_BYTES} bytes.")
        return _parse(payload, "model bytes"), payload, "model bytes", payload
    if not isinstance(path_or_bytes, (str, os.PathLike)):
        raise ModelFileError(f"Expected a model path or the model's bytes, got {type(path_or_bytes).__name__}.")
    if "\x00" in str(path_or_bytes):
        raise ModelFileError(f"A model path cannot contain a NUL byte, got {str(path_or_bytes)!r}.")
    path = Path(path_or_bytes)
    try:
        info = path.stat()
    except OSError:
        raise ModelFileError(f"Model file {path} does not exist.") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(f"{path} is a folder; expected a snudeploy .onnx file.")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path} is not a regular file (a device, pipe or socket); expected an .onnx file.")
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path} has {info.st_size} bytes; snudeploy reads models up to {MAX_MODEL_BYTES}.")
    if path.suffix.lower() in (".json", ".h5", ".npz") or path.name == "spec.json":
        raise ModelFileError(f"{path} is not an ONNX model; expected a .onnx file "
                             "(checkpoints are folders: export them with `snudeploy export`).")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelFileError(f"Cannot read {path}: {e.strerror or e}") from None
    return _parse(data, str(path)), data, str(path), str(path)


def _parse(data: bytes, source: str) -> onnx.ModelProto:
    from google.protobuf.message import Error as ProtobufError

    try:
        proto = onnx.load_model_from_string(data)
    except (ProtobufError, ValueError, OSError, UnicodeError, RuntimeError, RecursionError) as e:
        raise ModelFileError(f"{source} is not a readable ONNX model ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'unparsable'}).") from None
    if not proto.graph.node and not proto.graph.input:
        raise ModelFileError(f"{source} is not an ONNX model (no graph).")
    if _has_invalid_text(proto):
        raise ModelFileError(f"{source} is corrupt: it holds names or text that are not valid UTF-8.")
    return proto


def _has_invalid_text(message) -> bool:
    """Whether any string field of ``message`` is not UTF-8 (protobuf then hands it over as bytes)."""
    from google.protobuf.descriptor import FieldDescriptor

    for field, value in message.ListFields():
        if field.type not in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE):
            continue
        values = value if field.is_repeated else (value,)
        for item in values:
            if isinstance(item, bytes) if field.type == FieldDescriptor.TYPE_STRING else _has_invalid_text(item):
                return True
    return False


def _check_signature(proto: onnx.ModelProto, info: ModelInfo, source: str) -> None:
    """The graph has every tensor the metadata names, with matching type, rank and static sizes."""
    initializers = {i.name for i in proto.graph.initializer}
    inputs = {v.name: v for v in proto.graph.input if v.name not in initializers}
    outputs = {v.name: v for v in proto.graph.output}
    time = [info.timesteps] if info.sequence else []
    wanted_in = {info.input.name: ([None, *time, *info.input.shape], info.input.dtype)}
    wanted_out = {info.outputs.spikes: ([None, *time, *info.output_shape], "float32")}
    if info.outputs.rates:
        wanted_out[info.outputs.rates] = ([None, *info.output_shape], "float32")
    for s in info.states:
        wanted_in[s.input] = wanted_out[s.output] = ([None, *s.shape], s.dtype)
    problems = []
    for side, wanted, have in (("input", wanted_in, inputs), ("output", wanted_out, outputs)):
        missing = [name for name in wanted if name not in have]
        if missing:
            problems.append(f"graph {side}(s) {', '.join(missing)} named by its metadata do not exist")
        for name, (dims, dtype) in wanted.items():
            if name in have:
                problem = _mismatch(have[name], dims, dtype)
                if problem:
                    problems.append(f"{name} {problem}")
    extra = sorted(set(inputs) - set(wanted_in))
    if extra:
        problems.append(f"graph inputs {extra} are not in its metadata")
    if problems:
        raise ModelFileError(f"{source} does not match its snudeploy metadata: {'; '.join(problems)}.")


def _check_claims(proto: onnx.ModelProto, info: ModelInfo, source: str) -> None:
    """What the metadata claims about the whole graph: a fixed T, and int8 arithmetic."""
    problems = []
    declared = _dims(next((v for v in proto.graph.input if v.name == info.input.name), None))
    graph_t = declared[1] if info.sequence and declared and len(declared) > 1 else None
    if info.format == "unrolled" and (info.timesteps is None or graph_t != info.timesteps):
        problems.append(f"timesteps is {info.timesteps}, the unrolled graph's input takes T = {graph_t}")
    integer = sorted(op for _, op in used_operators(proto) if op in INTEGER_OPS)
    if bool(integer) != info.quantization.int8:
        problems.append(f"quantization says {'integer' if info.quantization.int8 else 'float'} arithmetic, the graph has "
                        f"{'integer operators ' + ', '.join(integer) if integer else 'no integer operators'}")
    if info.input.binary and not integer:
        problems.append("input.binary says the graph takes spikes only, but it has no integer operators")
    if problems:
        raise ModelFileError(f"{source} does not match its snudeploy metadata: {'; '.join(problems)}.")


def _dims(value) -> list | None:
    if value is None or value.type.WhichOneof("value") != "tensor_type" or not value.type.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


_ELEMENT_TYPES = {"float32": onnx.TensorProto.FLOAT}


def _mismatch(value: onnx.ValueInfoProto, wanted: list, dtype: str) -> str | None:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return f"is a {kind}, expected a {dtype} tensor"
    tensor = value.type.tensor_type
    if tensor.elem_type != _ELEMENT_TYPES[dtype]:
        name = onnx.TensorProto.DataType.Name(tensor.elem_type) if tensor.elem_type in \
            onnx.TensorProto.DataType.values() else f"number {tensor.elem_type}"
        return f"has element type {name}, its metadata says {dtype}"
    dims = _dims(value)
    if dims is None:
        return None
    if len(dims) != len(wanted):
        return f"has rank {len(dims)}, its metadata says {len(wanted)} ({_shape(wanted)})"
    for have, want in zip(dims, wanted):
        if have is not None and want is not None and have != want:
            return f"has shape {_shape(dims)}, its metadata says {_shape(wanted)}"
    return None


def _shape(dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _check_weights(proto: onnx.ModelProto, source: str, payload) -> None:
    """No NaN/Inf weight; external data only in files beside the model."""
    for tensor in _tensors(proto):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _check_external(tensor, source, payload)
            continue
        if tensor.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
            continue
        try:
            array = numpy_helper.to_array(tensor)
        except (ValueError, TypeError) as e:
            raise ModelFileError(f"{source}: weight {tensor.name!r} is corrupt ({e}).") from None
        if array.size and not np.isfinite(array).all():
            raise ModelFileError(f"{source}: weight {tensor.name!r} holds NaN or Inf values; refusing to run it.")


def _tensors(proto: onnx.ModelProto):
    yield from proto.graph.initializer
    for graph in _graphs(proto):
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.TENSOR:
                    yield attribute.t
        if graph is not proto.graph:
            yield from graph.initializer


def _graphs(proto: onnx.ModelProto):
    stack = [proto.graph]
    while stack:
        graph = stack.pop()
        yield graph
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    stack.append(attribute.g)
                elif attribute.type == onnx.AttributeProto.GRAPHS:
                    stack.extend(attribute.graphs)


def _check_external(tensor: onnx.TensorProto, source: str, payload) -> None:
    location = {e.key: e.value for e in tensor.external_data}.get("location", "")
    if not isinstance(payload, str):
        raise ModelFileError(f"{source}: weight {tensor.name!r} is stored in an external file; load the model "
                             "from its path, not from bytes.")
    folder = Path(payload).resolve().parent
    target = (folder / location).resolve()
    if not location or Path(location).is_absolute() or folder not in target.parents:
        raise ModelFileError(f"{source}: weight {tensor.name!r} points outside the model's folder ({location!r}).")


def _fixed_timesteps(info: ModelInfo, proto: onnx.ModelProto) -> int | None:
    """T of a sequence graph that only takes one length: the unrolled format, or a fixed input dim."""
    if info.graph != "sequence":
        return None
    declared = next((i.type.tensor_type.shape.dim for i in proto.graph.input if i.name == info.input.name), None)
    if declared is not None and len(declared) >= 3 and declared[1].HasField("dim_value"):
        return int(declared[1].dim_value)
    return int(info.timesteps) if info.format == "unrolled" and info.timesteps else None

