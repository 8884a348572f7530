"""Quantization: tfmot QAT on the Keras model, int8 weights on the ONNX export.

``quantize(checkpoint, method, out)`` (see :mod:`.pipeline`) writes int8 ONNX graphs and a
report against the float parent. :data:`METHODS` is the registry of methods. Importing this
package loads neither TensorFlow, tfmot, ONNX Runtime nor the pipeline.
"""

from .methods import METHODS, Method

__all__ = ["METHODS", "Method", "quantize"]


def __getattr__(name: str):
    if name == "quantize":
        from .pipeline import quantize
        return quantize
    raise AttributeError(f"module 'snudeploy.quantization' has no attribute {name!r}")
