"""Protocol-buffer text format for Triton's ``config.pbtxt``, written from plain Python data.

Triton reads a model's configuration as the text form of its ``ModelConfig`` message. We
build that message as nested dicts and lists (no dependency on Triton's generated protobuf
classes, which only the serve extra brings) and render it here:

* a ``dict`` is a message: ``key { ... }``;
* a list of dicts is a repeated message field: ``key [ { ... }, { ... } ]``;
* a list of scalars is a repeated scalar field: ``key: [ 1, 2 ]``;
* ``str`` is a quoted string, :class:`Symbol` an enum value written bare (``TYPE_FP32``),
  ``bool`` ``true``/``false``, ``int``/``float`` a number.
"""

from __future__ import annotations

import json


class Symbol(str):
    """An enum value (``TYPE_FP32``, ``KIND_CPU``, ``CONTROL_SEQUENCE_START``): written without quotes."""


def render(message: dict, indent: int = 0) -> str:
    """The text format of ``message`` (one field per line, two-space indentation)."""
    pad = "  " * indent
    lines = []
    for key, value in message.items():
        if isinstance(value, dict):
            lines += [f"{pad}{key} {{", render(value, indent + 1), f"{pad}}}"]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            blocks = [f"{pad}  {{\n{render(v, indent + 2)}\n{pad}  }}" for v in value]
            lines += [f"{pad}{key} [", ",\n".join(blocks), f"{pad}]"]
        elif isinstance(value, list):
            lines.append(f"{pad}{key}: [ {', '.join(_scalar(v) for v in value)} ]")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return "\n".join(line for line in lines if line)


def _scalar(value) -> str:
    if isinstance(value, Symbol):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid text-format string literal
    raise TypeError(f"Cannot write {type(value).__name__} {value!r} in a config.pbtxt.")
