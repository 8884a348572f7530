"""Quantization: tfmot QAT on the Keras model, ONNX Runtime static PTQ on the export.

``quantize(checkpoint, method, out)`` (see :mod:`.pipeline`) writes int8 ONNX graphs and a
report against the float parent. Importing this package loads neither TensorFlow nor tfmot.
"""

from .pipeline import METHODS, quantize

__all__ = ["METHODS", "quantize"]
