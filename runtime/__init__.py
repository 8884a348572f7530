"""Streaming SNU inference on ONNX Runtime; imports numpy, onnx and onnxruntime, never TensorFlow.

``StreamingSession`` loads any snudeploy ONNX file and owns the state of many independent
streams; see its docstring (and the README's Runtime section) for the API and the
thread-safety contract.
"""

from .providers import ProviderFallbackWarning, cuda_unavailable_reason
from .session import StreamingSession
from .streams import StreamSnapshot

__all__ = ["StreamingSession", "StreamSnapshot", "ProviderFallbackWarning", "cuda_unavailable_reason"]
