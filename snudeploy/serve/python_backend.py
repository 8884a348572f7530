"""The Triton Python-backend model: Triton's requests in, :class:`.sequences.SequenceStreams` steps them.

The ``model.py`` that ``snudeploy serve triton`` writes imports :class:`TritonPythonModel`
from here, so the logic lives (and is tested) in the installed package and the serving
environment needs snudeploy installed. Triton runs one instance per process (its Python
stub), so each instance has its own ONNX Runtime session and its own streams; the
sequence batcher keeps every sequence on one instance.

Each instance also counts where its executions' time goes, as two Prometheus counters on
Triton's metrics endpoint (:data:`METRICS`, labelled with the model's name and version):
the time of ``execute`` (reading requests, the model, writing responses) and the time of
the model alone (:meth:`.sequences.SequenceStreams.step`), in microseconds, each execution
counted once per request in it (empty batch slots aside) as Triton counts its own compute
time, so that dividing by the requests gives a mean per request comparable with Triton's
statistics. Each update is a message to the server (about 30 µs here), two per execution.

``triton_python_backend_utils`` exists only inside Triton's Python stub, so it is
imported when Triton initialises the model, not when this module is imported.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import InferenceError, UnknownStreamError
from ..runtime import StreamingSession
from .config import CORRID, END, READY, START
from .sequences import Request, SequenceStreams

METRICS = {"execute": ("snudeploy_execute_us", "Microseconds in the Python model's execute, summed per request"),
           "model": ("snudeploy_model_us", "Microseconds stepping the streams (the model), summed per request")}


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
        labels = {"model": args["model_name"], "version": args["model_version"]}
        self._families = {key: pb_utils.MetricFamily(name=name, description=text, kind=pb_utils.MetricFamily.COUNTER)
                          for key, (name, text) in METRICS.items()}  # kept alive: they must outlive their metrics
        self._timers = {key: family.Metric(labels=labels) for key, family in self._families.items()}

    def execute(self, requests) -> list:
        began = time.perf_counter()
        parsed = [self._request(r) for r in requests]
        stepping = time.perf_counter()
        results = self._streams.step(parsed)
        stepped = time.perf_counter()
        responses = [self._response(result) for result in results]
        ended = time.perf_counter()
        ready = sum(r.ready for r in parsed)  # the requests Triton counts: not the empty slots
        self._timers["model"].increment((stepped - stepping) * 1e6 * ready)
        self._timers["execute"].increment((ended - began) * 1e6 * ready)
        return responses

    def finalize(self) -> None:
        self._streams.close_all()
        self._timers.clear()  # metrics before their families

    def _request(self, request) -> Request:
        values = {tensor.name(): tensor.as_numpy() for tensor in request.inputs()}  # one pass over the inputs
        return Request(corrid=int(values[CORRID].flat[0]), start=bool(values[START].flat[0]),
                       end=bool(values[END].flat[0]), ready=bool(values[READY].flat[0]), x=values[self._input])

    def _response(self, result):
        pb = self._pb
        if isinstance(result, Exception):
            code = (pb.TritonError.NOT_FOUND if isinstance(result, UnknownStreamError) else
                    pb.TritonError.INTERNAL if isinstance(result, InferenceError) else pb.TritonError.INVALID_ARG)
            return pb.InferenceResponse(error=pb.TritonError(f"{type(result).__name__}: {result}", code))
        spikes = self._zeros if result is None else np.asarray(result, np.float32)[None]  # [1, K, C]
        return pb.InferenceResponse([pb.Tensor(self._output, spikes)])
