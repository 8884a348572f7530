"""The seal of a snudeploy ONNX file: a SHA-256 digest of its graph, weights and metadata.

``metadata_props["snudeploy.sha256"]`` is the hex SHA-256 of

1. the raw bytes of every top-level field of the serialized ``ModelProto`` except field 14
   (``metadata_props``), each as it appears in the file (tag, length, payload), in file order
   - the graph with its weights, the functions, opsets, IR version, producer; then
2. the UTF-8 bytes of ``metadata_props["snudeploy"]``.

It is computed from the bytes, so any reader can check it without re-serializing protobuf
(the JavaScript runtime does the same with a few lines of wire-format reading). Exporters
:func:`attach` it; :func:`snudeploy.runtime.load_model` checks it, and a file whose bytes were
flipped or edited is refused as corrupted unless the caller opts out (files edited on purpose).
"""

from __future__ import annotations

import hashlib

import onnx

from .errors import ModelFileError

DIGEST_KEY = "snudeploy.sha256"
METADATA_FIELD = 14  # ModelProto.metadata_props


def fields(data: bytes):
    """Yield ``(field number, start, end)`` of every top-level field of protobuf message ``data``."""
    position, size = 0, len(data)
    while position < size:
        start = position
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, position = _varint(data, position)
        elif wire == 1:
            position += 8
        elif wire == 2:
            length, position = _varint(data, position)
            position += length
        elif wire == 5:
            position += 4
        else:
            raise ModelFileError(f"corrupt protobuf: wire type {wire} at byte {start}")
        if position > size or number == 0:
            raise ModelFileError(f"corrupt protobuf: field at byte {start} runs past the end")
        yield number, start, position


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ModelFileError("corrupt protobuf: a truncated number")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def compute(data: bytes, metadata_text: str) -> str:
    """The digest of serialized model ``data`` whose ``snudeploy`` metadata is ``metadata_text``."""
    sha = hashlib.sha256()
    for number, start, end in fields(data):
        if number != METADATA_FIELD:
            sha.update(data[start:end])
    sha.update(metadata_text.encode("utf-8"))
    return sha.hexdigest()


def attach(model: onnx.ModelProto, metadata_text: str) -> bytes:
    """Set ``model``'s snudeploy metadata and its digest; return the sealed model's bytes."""
    from .metadata import METADATA_KEY

    onnx.helper.set_model_props(model, {METADATA_KEY: metadata_text})
    value = compute(model.SerializeToString(), metadata_text)
    onnx.helper.set_model_props(model, {METADATA_KEY: metadata_text, DIGEST_KEY: value})
    return model.SerializeToString()


def check(data: bytes, props: dict, source: str, required: bool) -> None:
    """Raise :class:`ModelFileError` unless the digest in ``props`` matches ``data`` (``required``: it must exist)."""
    from .metadata import METADATA_KEY

    stored = props.get(DIGEST_KEY)
    if stored is None:
        if required:
            raise ModelFileError(f"{source} is corrupted or was edited: its seal ({DIGEST_KEY}) is missing. Load it "
                                 "with check_digest=False (CLI: --no-digest-check) if you edited it on purpose.")
        return
    text = props.get(METADATA_KEY)
    if not isinstance(stored, str) or not isinstance(text, str) or compute(data, text) != stored:
        raise ModelFileError(f"{source} is corrupted: its bytes do not match the digest written at export. Load it "
                             "with check_digest=False (CLI: --no-digest-check) if you edited it on purpose.")
