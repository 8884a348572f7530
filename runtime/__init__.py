"""Streaming SNU inference on ONNX Runtime; imports numpy, onnx and onnxruntime, never TensorFlow.

* :class:`StreamingSession` loads any snudeploy ONNX file and owns the state of many
  independent streams (see its docstring and docs/runtime.md);
* :class:`Engine` and :func:`rollout` are the one execution path the rest of snudeploy
  uses: every ONNX Runtime session is made by an ``Engine``, every roll of a graph over
  time is a ``rollout``.
"""

from .engine import Engine
from .model import LoadedModel, load_model
from .reference import ReferenceEngine
from .providers import ProviderFallbackWarning, SessionSettings, cuda_unavailable_reason
from .rollout import Rollout, rollout
from .session import StreamingSession
from .streams import StreamSnapshot

__all__ = ["StreamingSession", "StreamSnapshot", "Engine", "ReferenceEngine", "Rollout", "rollout", "LoadedModel", "load_model",
           "SessionSettings", "ProviderFallbackWarning", "cuda_unavailable_reason"]
