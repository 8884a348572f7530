"""Export a checkpoint: build every graph of a format, check it, validate it, then write it.

Nothing is written before every requested graph has passed its checks and validation
gates (``force=True`` writes failing graphs too, marked ``"passed": false``). Each file
carries the metadata of :mod:`snudeploy.metadata` with its validation report, and a
``validation.json`` next to the files collects the reports of the files in that folder.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from .. import __version__
from ..errors import ConfigurationError, ExportError, ModelFileError, ValidationError
from ..metadata import METADATA_KEY, build as build_metadata, dumps
from ..spec import ModelSpec
from . import checks, formats

VALIDATION_FILE = "validation.json"
ALL = "all"


@dataclass(frozen=True)
class ExportedFile:
    """One written (or, with a failed validation and no ``force``, rejected) ONNX file."""
    path: Path
    format: str
    graph: str
    nodes: dict          # checks.op_histogram(...)["total"]
    size_bytes: int
    validation: dict
    metadata: dict

    def summary(self) -> dict:
        v = self.validation
        return {"file": str(self.path), "format": self.format, "graph": self.graph,
                "nodes": self.nodes, "size_kb": round(self.size_bytes / 1024, 1),
                "spike_agreement": v.get("spike_agreement"), "max_state_delta": v.get("max_state_delta"),
                "prediction_agreement": v.get("prediction_agreement"), "passed": v.get("passed"),
                "failures": v.get("failures", [])}


def export(checkpoint, format: str, path, timesteps: int | None = None, opset: int = formats.DEFAULT_OPSET,
           dataset=None, samples: int = 256, force: bool = False) -> Path:
    """Export ``checkpoint`` to ONNX ``format`` after validating it against TensorFlow.

    Args:
        checkpoint: checkpoint folder (``spec.json`` + ``model.weights.h5``).
        format: ``"step"``, ``"unrolled"``, ``"loop"``, ``"customop"`` or ``"all"``.
        path: an ``.onnx`` file name, or a folder that receives the format's default file
            name(s); ``"all"`` needs a folder. ``customop`` also writes its step graph as
            ``<stem>_step.onnx`` next to the sequence graph.
        timesteps: T of the ``unrolled`` graph and of validation (default: the checkpoint's
            encoding T).
        opset: ONNX opset, 13-18.
        dataset: validation data: a dataset name, ``(x01, labels)`` arrays, or ``None`` for
            the checkpoint's dataset; its test split, rate-encoded like training does.
        samples: number of validation samples (the first N of the test split).
        force: write graphs that miss the validation gates (their metadata says so).

    Returns:
        The path of the format's primary file (``"all"``: the folder).

    Raises:
        ValidationError: a graph misses its gates (and ``force`` is false); nothing written. Its
            ``report`` maps ``"format/graph"`` to the report of every graph, passed or not.
        ConfigurationError, ModelFileError, ExportError: bad arguments, checkpoint or graph.
    """
    files = export_files(checkpoint, format, path, timesteps, opset, dataset, samples, force)
    return Path(path) if format == ALL else files[0].path


def export_files(checkpoint, format: str, path, timesteps: int | None = None, opset: int = formats.DEFAULT_OPSET,
                 dataset=None, samples: int = 256, force: bool = False) -> list[ExportedFile]:
    """:func:`export`, returning every file written with its node counts and validation report."""
    chosen = list(formats.names()) if format == ALL else [formats.get(format).name]
    opset = formats.check_opset(opset)
    targets = _targets(chosen, Path(path), format == ALL)
    spec = ModelSpec.load(checkpoint)
    if spec.model != "snu":
        raise ExportError(f"Only SNU networks export; checkpoint {checkpoint} holds a {spec.model!r} model.")
    steps = spec.encoding.timesteps if timesteps is None else timesteps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigurationError(f"`timesteps` must be a positive integer, got {timesteps!r}.")
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ConfigurationError(f"`samples` must be a positive integer, got {samples!r}.")
    spikes, labels, data_name = validation_data(spec, dataset, int(samples), int(steps))

    from ..checkpoint import load_checkpoint
    from .network import from_keras
    from .tfgraph import BuildContext
    from .validation import reference, validate

    keras_model = load_checkpoint(checkpoint)
    layers = from_keras(keras_model)
    if not layers:
        raise ExportError(f"Checkpoint {checkpoint} has no SNU layers.")
    units = [p.units for p in layers]
    ctx = BuildContext(model=keras_model, layers=layers, opset=opset, timesteps=int(steps))
    ref = reference(keras_model, spikes)
    producer = producer_versions()

    pending, reports_by_file, failed = [], {}, []
    for name in chosen:
        fmt = formats.get(name)
        models = _builder(fmt)(ctx)
        fixed_t = int(steps) if fmt.needs_timesteps else None
        for graph, model in models.items():
            checks.check_graph(model, graph, units, ctx.features, fixed_t if graph == "sequence" else None)
        reports = validate(models, ref, spikes, units, fmt.gates, labels, raise_on_failure=False)
        for graph, model in models.items():
            report = {"format": name, "dataset": data_name, "split": "test", **reports[graph]}
            reports_by_file[f"{name}/{graph}"] = report
            if not report["passed"]:
                failed.append(f"{name}/{graph}")
            meta = build_metadata(
                name, graph, [p.config() for p in layers], ctx.features, opset, timesteps=fixed_t,
                encoding=_encoding(spec, fixed_t), dataset=spec.dataset, readout=spec.readout,
                quantization=spec.quantization, producer=producer, validation=report)
            meta["source"] = {"checkpoint": Path(checkpoint).resolve().name, "dataset": spec.dataset,
                              "test_accuracy": spec.metrics.get("test_accuracy")}
            onnx.helper.set_model_props(model, {METADATA_KEY: dumps(meta)})
            model.producer_name, model.producer_version = "snudeploy", __version__
            pending.append((targets[name][graph], name, graph, model, meta))
    if failed and not force:
        detail = "; ".join(f"{key}: {', '.join(reports_by_file[key]['failures'])}" for key in failed)
        raise ValidationError(f"Export does not match TensorFlow, nothing written ({detail}). "
                              "Use force=True (--force) to write it anyway.", report=reports_by_file)
    return [_write(target, name, graph, model, meta) for target, name, graph, model, meta in pending]


def validation_data(spec: ModelSpec, dataset, samples: int, timesteps: int):
    """``(spikes uint8 [N, T, F], labels, dataset name)``: the first ``samples`` test images, encoded.

    The encoding is the checkpoint's (test split seed); with a ``timesteps`` other than the
    checkpoint's, ``max_spikes`` is kept (capped at T) so a pixel fires as often over the sequence.
    """
    from .. import datasets
    from ..training import encode_split

    if dataset is None:
        dataset = spec.dataset
        if dataset is None:
            raise ConfigurationError("The checkpoint names no dataset; pass a validation dataset.")
    if isinstance(dataset, str):
        _, _, x, y = datasets.load(dataset)
        name = dataset
    else:
        try:
            x, y = dataset
        except (TypeError, ValueError):
            raise ConfigurationError("`dataset` must be a dataset name or an (images, labels) pair.") from None
        name = "custom"
    x, y = np.asarray(x)[:samples], np.asarray(y)[:samples]
    if len(x) == 0 or int(np.prod(x.shape[1:])) != spec.input_features:
        raise ConfigurationError(f"Validation data has {int(np.prod(x.shape[1:]))} features per sample; "
                                 f"the checkpoint expects {spec.input_features}.")
    encoding = dataclasses.replace(spec.encoding, timesteps=timesteps,
                                   max_spikes=min(spec.encoding.max_spikes, timesteps))
    return encode_split(x, dataclasses.replace(spec, encoding=encoding), "test"), y, name


def producer_versions() -> dict:
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from ..checkpoint import keras_version

    return {"snudeploy": __version__, "tensorflow": tf.__version__, "keras": keras_version(),
            "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _encoding(spec: ModelSpec, timesteps: int | None) -> dict:
    enc = spec.encoding
    steps = timesteps or enc.timesteps
    return {"kind": "rate", "timesteps": steps, "max_spikes": min(enc.max_spikes, steps), "seed": enc.seed}


def _builder(fmt: formats.Format):
    module, function = fmt.builder.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


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
        files = {graph: path.parent / (path.stem + ("" if graph == fmt.graph else f"_{graph}") + ".onnx")
                 if path.suffix == ".onnx" else path / file_name for graph, file_name in fmt.files().items()}
        targets[name] = files
    return targets


def _write(target: Path, name: str, graph: str, model: onnx.ModelProto, meta: dict) -> ExportedFile:
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(target))
    report = {"file": target.name, **meta["validation"]}
    _merge_validation(target.parent / VALIDATION_FILE, target.name, report)
    return ExportedFile(path=target, format=name, graph=graph, nodes=checks.op_histogram(model)["total"],
                        size_bytes=target.stat().st_size, validation=meta["validation"], metadata=meta)


def _merge_validation(path: Path, file_name: str, report: dict) -> None:
    """Add ``report`` under ``files[file_name]`` of ``validation.json``, keeping other files' entries."""
    data = {"files": {}}
    if path.is_file():
        try:
            existing = json.loads(path.read_text())
            if isinstance(existing, dict) and isinstance(existing.get("files"), dict):
                data = existing
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            pass  # a foreign or corrupt validation.json is replaced
    data["files"][file_name] = report
    try:
        path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    except OSError as e:
        raise ModelFileError(f"Cannot write {path}: {e}") from None
