"""The Triton Python-backend model: Triton's requests in, :class:`.sequences.SequenceStreams` steps them.

The ``model.py`` that ``snudeploy serve triton`` writes imports :class:`TritonPythonModel`
from here, so the logic lives (and is tested) in the installed package and the serving
environment needs snudeploy installed. Triton runs one instance per process (its Python
stub), so each instance has its own ONNX Runtime session and its own streams; the
sequence batcher keeps every sequence on one instance.

``triton_python_backend_utils`` exists only inside Triton's Python stub, so it is
imported when Triton initialises the model, not when this module is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InferenceError, UnknownStreamError
from ..runtime import StreamingSession
from .config import CORRID, END, READY, START
from .sequences import Request, SequenceStreams


class TritonPythonModel:
    """Triton's Python-backend interface: ``initialize``, ``execute``, ``finalize``."""

    def initialize(self, args: dict) -> None:
        import triton_python_backend_utils as pb_utils

        self._pb = pb_utils
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        folder = Path(args["model_repository"]) / args["model_version"]
        session = StreamingSession(folder / parameters["model_file"], providers=parameters["provider"],
                                   threads=int(parameters["threads"]))
        self._input, self._output = session.info.input.name, session.info.outputs.spikes
        self._zeros = np.zeros((1, 1, session.classes), np.float32)
        self._streams = SequenceStreams(session, int(parameters["idle_ms"]) / 1000,
                                        max_chunk=int(parameters["max_chunk"]))

    def execute(self, requests) -> list:
        results = self._streams.step([self._request(r) for r in requests])
        return [self._response(result) for result in results]

    def finalize(self) -> None:
        self._streams.close_all()

    def _request(self, request) -> Request:
        def value(name):
            return self._pb.get_input_tensor_by_name(request, name).as_numpy()

        return Request(corrid=int(value(CORRID).reshape(-1)[0]), start=bool(value(START).reshape(-1)[0]),
                       end=bool(value(END).reshape(-1)[0]), ready=bool(value(READY).reshape(-1)[0]),
                       x=value(self._input))

    def _response(self, result):
        pb = self._pb
        if isinstance(result, Exception):
            code = (pb.TritonError.NOT_FOUND if isinstance(result, UnknownStreamError) else
                    pb.TritonError.INTERNAL if isinstance(result, InferenceError) else pb.TritonError.INVALID_ARG)
            return pb.InferenceResponse(error=pb.TritonError(f"{type(result).__name__}: {result}", code))
        spikes = self._zeros if result is None else np.asarray(result, np.float32)[None]  # [1, K, C]
        return pb.InferenceResponse([pb.Tensor(self._output, spikes)])
