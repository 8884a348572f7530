"""Writing the Triton model repositories of one model: a Python-backend and an ONNX Runtime-backend one.

``REPO/python`` and ``REPO/onnxruntime`` are each a Triton model repository holding the
model under the same name and with the same client contract::

    REPO/python/NAME/config.pbtxt         sequence batcher with START, END, READY, CORRID
    REPO/python/NAME/1/model.py           imports snudeploy.serve.python_backend
    REPO/python/NAME/1/model.onnx         the model as given
    REPO/onnxruntime/NAME/config.pbtxt    implicit state for every state pair
    REPO/onnxruntime/NAME/1/model.onnx    the sequence graph with START and READY inputs

The model is a step graph or a sequence graph of free T. A step graph's ONNX Runtime
variant is the step graph rolled over time (:func:`snudeploy.runtime.scan.sequence_graph`),
so both variants take chunks of K steps per request.

They are separate repositories because Triton by default loads every model of a
repository and stops when one fails: a server without the onnxruntime backend (the
nvidia-pytriton wheel) serves ``REPO/python``; a full Triton (the NGC container) serves
either. Each folder is written all-or-nothing; configurations go last, so a half-written
repository never has a config that points at missing files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

from .. import __version__
from ..errors import ConfigurationError
from ..files import Transaction, check_writable
from ..runtime import load_model
from ..runtime.scan import sequence_graph
from . import pbtxt
from .config import MODEL_FILE, ServeSettings, onnxruntime_config, python_config
from .stateful import with_sequence_controls

VERSION = "1"
BACKENDS = ("python", "onnxruntime")

MODEL_PY = '''"""Triton Python-backend model written by `snudeploy serve triton` (snudeploy {version}).

Serves model.onnx beside this file with snudeploy.runtime, one stream per sequence, a chunk of
K steps per request. The
serving environment needs snudeploy (pip install snudeploy) and numpy < 2 (Triton 2.51's
Python stub).
"""

from snudeploy.serve.python_backend import TritonPythonModel  # noqa: F401  (Triton looks this class up here)
'''


@dataclass(frozen=True)
class Repository:
    """Where a model was written: ``root/python`` and ``root/onnxruntime``, model ``name`` in each."""
    root: Path
    name: str
    settings: ServeSettings

    def path(self, backend: str) -> Path:
        """The model repository of ``backend`` (``python`` or ``onnxruntime``): pass it to ``--model-repository``."""
        return self.root / backend

    def files(self) -> list[Path]:
        return sorted(p for backend in BACKENDS for p in (self.path(backend) / self.name).rglob("*") if p.is_file())


def write(model_path, root, settings: ServeSettings) -> Repository:
    """Write both repositories for the step or free-T sequence model at ``model_path`` under folder ``root``.

    Raises:
        ModelFileError: the model file is missing, corrupt or not a snudeploy model.
        ConfigurationError: it is a sequence graph of a fixed T (Triton takes chunks of any K).
        OutputError: ``root`` cannot be written.
    """
    root = Path(root)
    check_writable(root, "folder")
    loaded = load_model(model_path)
    info = loaded.info
    if loaded.fixed_timesteps is not None:
        raise ConfigurationError(f"{model_path} is a {info.format} graph of a fixed T = {loaded.fixed_timesteps}; "
                                 "Triton takes chunks of any K steps per request, so give a step graph "
                                 "(snudeploy export --format step) or a customop or loop sequence graph.")
    proto = onnx.load(str(model_path))  # with any external data, so the copy stands alone
    sequence, sequence_info = proto, info
    if info.graph == "step":
        sequence, sequence_info = sequence_graph(proto, info), info.replace(graph="sequence")
    stateful = with_sequence_controls(sequence, sequence_info)
    for backend, model, config in (("python", proto, python_config(info, settings)),
                                   ("onnxruntime", stateful, onnxruntime_config(info, settings))):
        folder = root / backend / settings.name
        with Transaction(folder / VERSION) as files:
            files.write_bytes(MODEL_FILE, model.SerializeToString())
            if backend == "python":
                files.write_text("model.py", MODEL_PY.format(version=__version__))
        with Transaction(folder) as files:
            files.write_text("config.pbtxt", pbtxt.render(config) + "\n")
    return Repository(root, settings.name, settings)
