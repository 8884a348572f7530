"""``bench accuracy``: test accuracy, agreement with Keras, spikes, SynOps and the anytime curve.

The test split is encoded as training and ``snudeploy run`` encode it: the encoding in the
model's metadata, test seed = seed + 1 (:func:`snudeploy.evaluation.test_split`), the
first ``limit`` samples. Models run on ONNX Runtime's CPU provider, one thread, from zero
state (:func:`snudeploy.runtime.rollout`):

* step graphs are rolled over T and expose every layer's spikes (``l{i}_y_next``), so every
  figure is reported;
* sequence graphs expose only the output layer's spikes at every step (and final states),
  so hidden layers' spike counts and SynOps are null for them; accuracy, output spikes and
  the anytime curve are complete.

Use :func:`plan` (checks every input, fails fast) then :func:`run`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import arguments, datasets
from ..errors import ConfigurationError, DatasetError, ModelFileError
from ..evaluation import check_fits
from ..runtime import Engine, SessionSettings, load_model, rollout
from ..spec import ModelSpec
from . import environment, schema
from .spikes import tally_for
from .tables import short_labels

CHUNK = 512  # samples per rollout: bounds memory of the per-layer spike sequences
BATCH = 256  # sequences per ONNX Runtime call


@dataclass(frozen=True)
class AccuracyPlan:
    """A checked accuracy run: models (path, label, metadata), the test data and the Keras checkpoint."""
    targets: tuple
    dataset: str
    x: np.ndarray
    y: np.ndarray
    tf: Path | None
    lengths: np.ndarray | None = None    # sequences: each sample's length

    def settings(self) -> dict:
        return {"models": [str(path) for path, _, _ in self.targets], "dataset": self.dataset,
                "samples": int(len(self.y)), "tf": str(self.tf) if self.tf else None,
                "encoding": "each model's metadata encoding, test split seed + 1"}


@dataclass(frozen=True)
class AccuracyResult:
    """The JSON document, and the spike raster of one sample for the plot (None without a step graph).

    ``raster``: ``{"label": str, "input": [T, F], "layers": [[T, U_i], ...]}``.
    """
    document: dict
    raster: dict | None


def plan(models, dataset: str | None = None, data=None, limit: int | None = None, tf=None) -> AccuracyPlan:
    """Check every input and load the test split; raise a :class:`SnudeployError` on bad input.

    ``dataset`` defaults to the one the (first) model names in its metadata.
    """
    if not models:
        raise ConfigurationError("Give at least one MODEL.onnx to evaluate.")
    limit = arguments.optional_integer(limit, "limit", 1, arguments.LIMITS["samples"])
    targets = []
    for path, label in zip(models, short_labels(models)):
        info = load_model(path).info  # checks the file fully
        if info.encoding is None:
            raise ConfigurationError(f"{path} has no encoding in its metadata, so its inputs cannot be "
                                     "encoded as in training.")
        targets.append((Path(path), label, info))
    dataset = dataset or targets[0][2].dataset
    if not dataset and data is None:
        raise ConfigurationError(f"{targets[0][0]} does not name its dataset in its metadata; pass --dataset or "
                                 "--data.")
    sequences = targets[0][2].encoding.SEQUENCES
    if any(info.encoding.SEQUENCES != sequences for _, _, info in targets):
        raise ConfigurationError("Compare models that take the same kind of data (images or sequences).")
    loaded = datasets.load_data(dataset, data, sequences=sequences)
    dataset = dataset or Path(data).name
    x, y = loaded.x_test[:limit], loaded.y_test[:limit]
    lengths = None if loaded.lengths_test is None else loaded.lengths_test[:limit]
    if not len(x):
        raise DatasetError(f"{dataset} has no test samples.")
    width = int(np.prod(x.shape[1:]))
    for path, _, info in targets:
        if sequences:  # the encoding's own check: its width per step and its classes
            check_fits(info.features, info.classes, np.zeros((len(y), info.encoding.channels(x.shape[2]))), y,
                       str(path), dataset)
        else:
            check_fits(info.features, info.classes, x, y, str(path), dataset)
    if tf is not None and sequences:
        raise ConfigurationError("--tf compares image models with Keras; for sequences, training's test accuracy is "
                                 "the Keras figure (masked, each sequence for its own length).")
    if tf is not None:
        if importlib.util.find_spec("tensorflow") is None:
            raise ConfigurationError("--tf needs TensorFlow: pip install '.[train]' (in a clone) or "
                                     "'snudeploy[train]'.")
        spec = ModelSpec.load(tf)
        if spec.model != "snu" or spec.input_features != width:
            raise ModelFileError(f"--tf {tf} must be an SNU checkpoint taking {width} features; it is a "
                                 f"{spec.model!r} network taking {spec.input_features}.")
    return AccuracyPlan(tuple(targets), dataset, x, y, Path(tf) if tf else None, lengths)


def run(plan: AccuracyPlan, on_model=None) -> AccuracyResult:
    """Evaluate every model of ``plan`` (and the Keras checkpoint); return the document and a raster."""
    encoded, keras_runs = {}, {}
    reference = None
    if plan.tf:
        from .keras_reference import KerasReference
        reference = KerasReference(plan.tf)
    records, raster = [], None
    for path, label, info in plan.targets:
        key = info.encoding
        if key not in encoded:
            encoded[key] = key.encode(plan.x, "test", plan.lengths)
        spikes = encoded[key]
        tally = tally_for(info)
        engine = Engine(str(path), SessionSettings("cpu", threads=1))
        for start in range(0, len(spikes), CHUNK):
            chunk = spikes[start:start + CHUNK]
            result = rollout(engine, chunk, BATCH)
            tally.add(chunk, result.spikes, plan.y[start:start + CHUNK],
                      None if plan.lengths is None else plan.lengths[start:start + CHUNK])
            if raster is None and len(result.spikes) == len(info.states) // 2:  # every layer's spikes (step graphs)
                raster = {"label": label, "input": chunk[0].reshape(chunk.shape[1], -1).astype(np.float32),
                          "layers": [result.spikes[i][0].reshape(chunk.shape[1], -1) for i in sorted(result.spikes)]}
        record = {"model": str(path), "label": label, "format": info.format, "graph": info.graph,
                  "network": "snu", "units": info.units, "quantization": info.quantization.method,
                  "framework": "onnxruntime", "provider": engine.provider, "batch": BATCH, "threads": 1,
                  "dataset": plan.dataset, **tally.figures(), "tf_accuracy": None, "agreement_with_tf": None}
        if reference is not None:
            if key not in keras_runs:
                keras_runs[key] = reference.tally(spikes, plan.y)
            keras_predictions = keras_runs[key][1]
            record["tf_accuracy"] = float(np.mean(keras_predictions == plan.y))
            record["agreement_with_tf"] = float(np.mean(keras_predictions == tally.predictions))
        records.append(record)
        if on_model:
            on_model()
    if reference is not None:
        records.append(_keras_record(plan, reference, encoded, keras_runs))
        if on_model:
            on_model()
    document = {"schema_version": schema.SCHEMA_VERSION, "kind": "accuracy", "settings": plan.settings(),
                "environment": environment.describe([1]), "records": records, "warnings": []}
    return AccuracyResult(document, raster)


def _keras_record(plan: AccuracyPlan, reference, encoded: dict, keras_runs: dict) -> dict:
    """The Keras checkpoint's own row, on its own encoding of the test split."""
    from .keras_reference import CHUNK as KERAS_CHUNK

    spec = reference.spec
    key = spec.encoding
    if key not in keras_runs:
        spikes = encoded.get(key)
        keras_runs[key] = reference.tally(key.encode(plan.x, "test") if spikes is None else spikes, plan.y)
    tally, predictions = keras_runs[key]
    figures = tally.figures()
    accuracy = float(np.mean(predictions == plan.y))
    return {"model": str(plan.tf), "label": f"{plan.tf.name} (keras)", "format": "keras", "graph": "sequence",
            "network": "snu", "units": spec.units, "quantization": spec.quantization_method,
            "framework": "tensorflow", "provider": "tensorflow", "batch": KERAS_CHUNK, "threads": 0,
            "dataset": plan.dataset, **figures, "accuracy": accuracy, "tf_accuracy": accuracy,
            "agreement_with_tf": 1.0}
