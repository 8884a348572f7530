"""Serving step models on Triton Inference Server's sequence batcher (docs/serving.md).

* :mod:`.config` declares the model configurations (sequence batcher, controls, implicit
  state) as data; :mod:`.pbtxt` writes them as ``config.pbtxt``;
* :mod:`.stateful` adds START/READY to a step graph for the ONNX Runtime backend;
* :mod:`.repository` writes the Python-backend and ONNX Runtime-backend repositories;
* :mod:`.python_backend` and :mod:`.sequences` are the model Triton's Python backend runs;
* :mod:`.server` runs the ``[serve]`` extra's ``tritonserver``; :mod:`.client` streams
  sequences through it over gRPC.

Triton, PyTriton and tritonclient are imported inside functions only, so importing this
package (and ``snudeploy --help``) needs none of them.
"""
