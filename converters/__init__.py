"""TensorFlow/Keras SNU checkpoints to ONNX: ``step``, ``unrolled``, ``loop``, ``customop``.

``export(checkpoint, format, path)`` builds the format's graph(s), checks them, validates
them against TensorFlow on encoded test data, and only then writes them with their
metadata. Importing this package is cheap: TensorFlow and tf2onnx are imported by the
functions that need them.

Example::

    from snudeploy.converters import export
    export("runs/digits", "step", "runs/digits-onnx")      # -> runs/digits-onnx/step.onnx
"""

from .exporter import ExportedFile, export, export_files
from .formats import DEFAULT_OPSET, FORMATS, Format, Gates

__all__ = ["export", "export_files", "ExportedFile", "Format", "Gates", "FORMATS", "DEFAULT_OPSET"]
