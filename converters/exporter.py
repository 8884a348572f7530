"""Export a checkpoint: build every graph of a format, check it, validate it, then write it.

Nothing is written before every requested graph has passed its checks and validation
gates (``force=True`` writes failing graphs too, marked ``"passed": false``). The files of
one call are written together (:class:`snudeploy.files.Transaction`): a failure or Ctrl-C
leaves the folder's previous files intact. Each file carries the metadata of
:mod:`snudeploy.metadata` with its validation report, and ``validation.json`` next to the
files collects the reports of the files in that folder (written last).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from .. import __version__, arguments, digest
from ..encoding import Encoder
from ..errors import ConfigurationError, ExportError, ValidationError
from ..files import Transaction, check_writable
from ..metadata import METADATA_KEY, ModelInfo, Quantization, build as build_metadata
from ..readouts import Readout
from ..spec import ModelSpec
from . import checks, formats
from .network import Network, from_keras

VALIDATION_FILE = "validation.json"
ALL = formats.ALL
log = logging.getLogger("snudeploy.export")


@dataclass(frozen=True)
class ExportedFile:
    """One written (or, with a failed validation and no ``force``, rejected) ONNX file."""
    path: Path
    format: str
    graph: str
    nodes: dict          # checks.op_histogram(...)["total"]
    size_bytes: int
    validation: dict
    info: ModelInfo

    def summary(self) -> dict:
        v = self.validation
        return {"file": str(self.path), "format": self.format, "graph": self.graph,
                "nodes": self.nodes, "size_kb": round(self.size_bytes / 1024, 1),
                "spike_agreement": v.get("spike_agreement"), "max_state_delta": v.get("max_state_delta"),
                "prediction_agreement": v.get("prediction_agreement"), "passed": v.get("passed"),
                "exact": v.get("exact", True),
                "failures": v.get("failures", [])}


@dataclass(frozen=True)
class BuildContext:
    """What a format builder gets: the network (its layers with weights and Keras layers) and the settings."""
    network: Network
    opset: int
    timesteps: int           # T of fixed-length graphs (and of validation)
    readout: Readout = Readout()  # what a sequence graph's ``rates`` output gives


def export(checkpoint, format: str, path, timesteps: int | None = None, opset: int = formats.DEFAULT_OPSET,
           dataset=None, samples: int = 256, force: bool = False, inputs=None, labels=None) -> Path:
    """Export a checkpoint, or your own Keras model, to ONNX ``format`` after validating it against TensorFlow.

    Args:
        checkpoint: a checkpoint folder (``spec.json`` + ``model.weights.h5``), or a Keras model
            (``Sequential`` or a functional chain) built from snudeploy layers and the stateless
            layers between them (:data:`snudeploy.converters.network.SUPPORTED`); a model needs ``inputs``.
        format: ``"step"``, ``"unrolled"``, ``"loop"``, ``"customop"`` or ``"all"``.
        path: an ``.onnx`` file name, or a folder that receives the format's default file
            name(s); ``"all"`` needs a folder. ``customop`` also writes its step graph as
            ``<stem>_step.onnx`` next to the sequence graph.
        timesteps: T of the ``unrolled`` graph and of validation (default: the checkpoint's
            encoding T).
        opset: ONNX opset, 13-18.
        dataset: validation data: a dataset name, an ``.npz`` file (:mod:`snudeploy.datasets`),
            ``(x01, labels)`` arrays, or ``None`` for the checkpoint's dataset; its test split,
            encoded like training does.
        samples: number of validation samples (the first N of the test split).
        force: write graphs that miss the validation gates (their metadata says so).
        inputs: for a Keras model: the validation inputs ``[N, T, *input shape]`` as the model takes
            them (spikes or values), e.g. encoded test samples; T is that of ``unrolled`` graphs.
        labels: for a Keras model: optional labels ``[N]`` of ``inputs`` (the report then gives accuracies).

    Returns:
        The path of the format's primary file (``"all"``: the folder).

    Raises:
        ValidationError: a graph misses its gates (and ``force`` is false); nothing written. Its
            ``report`` maps ``"format/graph"`` to the report of every graph, passed or not.
        ConfigurationError, ModelFileError, ExportError, OutputError: bad arguments, checkpoint,
            graph or output location.
    """
    files = export_files(checkpoint, format, path, timesteps, opset, dataset, samples, force, inputs, labels)
    return Path(path) if format == ALL else files[0].path


def export_files(checkpoint, format: str, path, timesteps: int | None = None, opset: int = formats.DEFAULT_OPSET,
                 dataset=None, samples: int = 256, force: bool = False, inputs=None,
                 labels=None) -> list[ExportedFile]:
    """:func:`export`, returning every file written with its node counts and validation report."""
    chosen = list(formats.names()) if format == ALL else [formats.get(format).name]
    opset = formats.check_opset(opset)
    targets = _targets(chosen, Path(path), format == ALL)
    for folder in {t.parent for files in targets.values() for t in files.values()}:
        check_writable(folder, "folder")
    if _is_keras_model(checkpoint):
        if dataset is not None or timesteps is not None:
            raise ConfigurationError("A Keras model is validated on the `inputs` you give (their T is the unrolled "
                                     "graph's); `dataset` and `timesteps` are for checkpoints.")
        source = model_source(checkpoint, inputs, labels, samples)
    else:
        if inputs is not None or labels is not None:
            raise ConfigurationError("`inputs` and `labels` are for a Keras model; a checkpoint is validated on its "
                                     "dataset (`dataset=`).")
        source = load_source(checkpoint, timesteps, dataset, samples)
    network, steps, spikes, labels = source.network, source.timesteps, source.spikes, source.labels

    from ..runtime.rollout import BLOCK
    from .validation import validate

    ctx = BuildContext(network=network, opset=opset, timesteps=steps, readout=source.readout)
    producer = producer_versions()
    whole = source.reference() if len(spikes) <= BLOCK else None  # one block: one TensorFlow run for every format
    reference_of = source.reference if whole is None else lambda block: whole

    pending, reports_by_file, failed = [], {}, []
    for name in chosen:
        fmt = formats.get(name)
        log.info("Building and validating %s...", name)
        models = fmt.build(ctx)
        fixed_t = steps if fmt.needs_timesteps else None
        for graph, model in models.items():
            checks.check_onnx(model, graph)
            info = build_metadata(name, graph, network.metadata_layers(), network.input_shape, opset,
                                  timesteps=fixed_t if graph == "sequence" else None,
                                  encoding=source.encoding_for(fixed_t), dataset=source.trained_on,
                                  readout=source.readout, quantization=source.quantization, producer=producer,
                                  source=source.origin)
            _set_metadata(model, info)
            checks.check_loads(model, graph)
        reports = validate(models, reference_of, spikes, fmt.gates, labels, raise_on_failure=False)
        for graph, model in models.items():
            report = {"format": name, "dataset": source.dataset, "split": "test", **reports[graph]}
            reports_by_file[f"{name}/{graph}"] = report
            if not report["passed"]:
                failed.append(f"{name}/{graph}")
            info = _info(model).replace(validation=report)
            _set_metadata(model, info)
            pending.append((targets[name][graph], name, graph, model, info))
    if failed and not force:
        detail = "; ".join(f"{key}: {', '.join(reports_by_file[key]['failures'])}" for key in failed)
        raise ValidationError(f"Export does not match TensorFlow, nothing written ({detail}). "
                              "Use force=True (--force) to write it anyway.", report=reports_by_file)
    return write(pending)


def write(pending: list) -> list[ExportedFile]:
    """Write ``[(target, format, graph, model, info)]``, each folder in one transaction, validation.json last."""
    written = []
    for folder in dict.fromkeys(target.parent for target, *_ in pending):
        group = [p for p in pending if p[0].parent == folder]
        with Transaction(folder) as files:
            for target, name, graph, model, info in group:
                data = model.SerializeToString()
                files.write_bytes(target.name, data)
                written.append(ExportedFile(path=target, format=name, graph=graph,
                                            nodes=checks.op_histogram(model)["total"], size_bytes=len(data),
                                            validation=info.validation or {}, info=info))
            files.write_text(VALIDATION_FILE, merged_validation(
                folder / VALIDATION_FILE, {target.name: info.validation or {} for target, *_, info in group}))
    return written


@dataclass(frozen=True)
class Source:
    """A network to export (a checkpoint's, or a user's Keras model), with its validation data."""
    model: object            # the Keras sequence model
    network: Network         # its exported layers with weights
    timesteps: int
    spikes: np.ndarray       # [N, T, *input shape], spikes or values as the model takes them
    labels: np.ndarray | None
    dataset: str             # what the validation data are
    encoding: Encoder | None = None     # how the network's inputs are encoded (None: the user's own)
    trained_on: str | None = None       # the dataset the network was trained on
    readout: Readout = Readout()
    quantization: Quantization = Quantization()
    origin: dict | None = None          # the metadata's `source`

    def encoding_for(self, timesteps: int | None) -> Encoder | None:
        """The encoding recorded in a graph of fixed ``timesteps`` (rate: ``max_spikes`` capped at T), or the
        encoding."""
        if self.encoding is None or timesteps is None:
            return self.encoding
        return self.encoding.with_timesteps(timesteps)

    def reference(self, spikes: np.ndarray | None = None):
        """TensorFlow's results (:class:`~.validation.Reference`) on ``spikes``, a block of the validation
        spikes [all of them]."""
        from .validation import reference

        spikes = self.spikes if spikes is None else spikes
        log.info("Running TensorFlow on %d encoded %s test samples for validation...", len(spikes), self.dataset)
        return reference(self.model, self.network, spikes, self.readout)


def load_source(checkpoint, timesteps: int | None, dataset, samples: int) -> Source:
    """Load an SNU checkpoint with finite weights and encode its validation data (checked arguments)."""
    spec = ModelSpec.load(checkpoint)
    if spec.model != "snu":
        raise ExportError(f"Only SNU networks export; checkpoint {checkpoint} holds a {spec.model!r} model.")
    steps = arguments.limited(spec.encoding.timesteps if timesteps is None else timesteps, "timesteps", "timesteps")
    samples = arguments.limited(samples, "samples", "samples")
    spikes, labels, data_name = validation_data(spec, dataset, samples, steps)
    if spec.encoding.SEQUENCES:  # sequences run for their own length: T is the validation data's (or cut to T)
        steps = spikes.shape[1] if timesteps is None else steps
        spikes = np.concatenate([spikes, np.zeros((len(spikes), max(steps - spikes.shape[1], 0), *spikes.shape[2:]),
                                                  spikes.dtype)], axis=1)[:, :steps]

    from ..checkpoint import load_checkpoint

    keras_model = load_checkpoint(checkpoint)
    network = from_keras(keras_model, spec.input_shape)
    if not network.finite():
        raise ExportError(f"Checkpoint {checkpoint} has NaN or Inf weights; it cannot be exported.")
    quantization = Quantization(spec.quantization_method, {k: v for k, v in spec.quantization.items() if k != "method"})
    return Source(keras_model, network, steps, spikes, labels, data_name, encoding=spec.encoding,
                  trained_on=spec.dataset, readout=spec.readout, quantization=quantization,
                  origin={"checkpoint": Path(checkpoint).resolve().name, "dataset": spec.dataset,
                          "test_accuracy": spec.metrics.get("test_accuracy")})


def model_source(model, inputs, labels, samples: int) -> Source:
    """A user's Keras model with the validation ``inputs`` ``[N, T, *input shape]`` they give (checked)."""
    if inputs is None:
        raise ConfigurationError("Exporting a Keras model needs `inputs`: validation inputs [N, T, *input shape] as "
                                 "the model takes them (its exports are checked against it on these).")
    network = from_keras(model)
    x = np.asarray(inputs)
    if x.dtype.kind not in "biuf" or x.ndim != 2 + len(network.input_shape) or \
            tuple(x.shape[2:]) != network.input_shape or x.shape[1] < 1 or len(x) < 1:
        raise ConfigurationError(f"`inputs` must be numbers of shape [N, T, {', '.join(map(str, network.input_shape))}] "
                                 f"(the model's input per step), got {x.dtype} {list(x.shape)}.")
    samples = arguments.limited(samples, "samples", "samples")
    arguments.limited(x.shape[1], "timesteps", "timesteps")
    if not np.isfinite(x).all():
        raise ConfigurationError("`inputs` hold NaN or Inf.")
    if labels is not None:
        labels = np.asarray(labels)[:samples]
        if labels.shape != (min(samples, len(x)),) or labels.dtype.kind not in "iu":
            raise ConfigurationError(f"`labels` must be integers [N] for the {len(x)} inputs.")
    if not network.finite():
        raise ExportError("The model has NaN or Inf weights; it cannot be exported.")
    last = model.layers[-1] if model.layers else None
    readout = (Readout(last.readout.kind, last.readout.reduce) if type(last).__name__ == "Readout" else Readout())
    return Source(model, network, int(x.shape[1]), x[:samples], labels, "inputs", readout=readout,
                  origin={"keras_model": getattr(model, "name", "model")})


def _is_keras_model(value) -> bool:
    return hasattr(value, "layers") and hasattr(value, "get_weights") and not isinstance(value, (str, os.PathLike))


def validation_data(spec: ModelSpec, dataset, samples: int, timesteps: int):
    """``(input [N, T, *input shape], labels, dataset name)``: the first ``samples`` test samples, encoded.

    The encoding is the checkpoint's (test split seed); with a ``timesteps`` other than the
    checkpoint's, ``max_spikes`` is kept (capped at T) so a pixel fires as often over the sequence.
    Sequences are encoded whole and padded with zeros (no input) to the split's longest: the
    graphs and TensorFlow see the same steps, so the comparison holds for every step.
    """
    from .. import datasets

    if dataset is None:
        dataset = spec.dataset
        if dataset is None:
            raise ConfigurationError("The checkpoint names no dataset; pass a validation dataset.")
    if isinstance(dataset, (str, os.PathLike)):
        file = str(dataset).endswith(".npz")  # a file of the user's, else a dataset's name
        name = Path(dataset).name if file else str(dataset)
        data = datasets.load_data(None if file else str(dataset), dataset if file else None,
                                  sequences=spec.encoding.SEQUENCES)
        if data.sequences:
            lengths = None if data.lengths_test is None else data.lengths_test[:samples]
            x = spec.encoding.encode(data.x_test[:samples], "test", lengths)
            return x.reshape(*x.shape[:2], *spec.input_shape), data.y_test[:samples], name
        x, y = data.x_test, data.y_test
    else:
        try:
            x, y = dataset
        except (TypeError, ValueError):
            raise ConfigurationError("`dataset` must be a dataset name, an .npz file or an (images, labels) "
                                     "pair.") from None
        name = "custom"
    x, y = np.asarray(x)[:samples], np.asarray(y)[:samples]
    if len(x) == 0 or int(np.prod(x.shape[1:])) != spec.input_features:
        raise ConfigurationError(f"Validation data has {int(np.prod(x.shape[1:]))} features per sample; "
                                 f"the checkpoint expects {spec.input_features}.")
    spikes = spec.encoding.with_timesteps(timesteps).encode(x, "test")
    return spikes.reshape(*spikes.shape[:2], *spec.input_shape), y, name


def producer_versions() -> dict:
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from ..checkpoint import keras_version

    return {"snudeploy": __version__, "tensorflow": tf.__version__, "keras": keras_version(),
            "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _set_metadata(model: onnx.ModelProto, info: ModelInfo) -> None:
    """Set the producer, the metadata and the seal (:mod:`snudeploy.digest`) of ``model``."""
    model.producer_name, model.producer_version = "snudeploy", __version__
    digest.attach(model, info.to_json())


def _info(model: onnx.ModelProto) -> ModelInfo:
    from ..metadata import parse

    return parse({p.key: p.value for p in model.metadata_props}[METADATA_KEY])


def _targets(chosen: list[str], path: Path, folder_only: bool) -> dict:
    """``{format: {graph: file path}}``; ``path`` is a folder, or an ``.onnx`` file for one format."""
    if path.suffix == ".onnx":
        if folder_only:
            raise ConfigurationError(f"Format 'all' writes several files; give a folder, not {path}.")
        if path.is_dir():
            raise ConfigurationError(f"{path} is a folder; give a file name or a folder without the .onnx suffix.")
    elif path.exists() and not path.is_dir():
        raise ConfigurationError(f"{path} exists and is not a folder.")
    targets = {}
    for name in chosen:
        fmt = formats.get(name)
        targets[name] = {graph: path.parent / (path.stem + ("" if graph == fmt.graph else f"_{graph}") + ".onnx")
                         if path.suffix == ".onnx" else path / file_name for graph, file_name in fmt.files().items()}
    return targets


def merged_validation(path: Path, reports: dict) -> str:
    """``validation.json`` with ``reports`` ({file name: report}) added under ``files``, other files' entries kept."""
    data = {"files": {}}
    if path.is_file():
        try:
            existing = json.loads(path.read_text())
            if isinstance(existing, dict) and isinstance(existing.get("files"), dict):
                data = existing
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            log.warning("Replacing unreadable %s.", path)
    for name, report in reports.items():
        data["files"][name] = {"file": name, **report}
    return json.dumps(data, indent=2, default=float) + "\n"
