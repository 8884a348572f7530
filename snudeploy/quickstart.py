"""The first-run pipeline: train, export, quantize, stream, benchmark, then one summary table.

Every stage calls the same functions as its CLI command, so the quickstart is the product
run end to end, not a demo path. Artifacts land in ``out``::

    snu/ lstm/            checkpoints (spec.json, model.weights.h5, metrics.json)
    onnx/                 step, unrolled, loop, customop(+_step) graphs and validation.json
    int8/                 PTQ step.int8.onnx, customop.int8.onnx, quantization.json
    bench/                latency.json, accuracy.json and the PNG plots
    summary.json          the figures of the summary table
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np

from .files import check_writable, write_text
from .spec import ModelSpec
from .table import render

log = logging.getLogger("snudeploy.quickstart")

# The LSTM baseline is ~2.5x slower to train than the SNU; on digits it gets 5 epochs so the
# quickstart stays under 5 minutes (it is a speed baseline; `snudeploy train --model lstm`
# trains it fully). Full-size datasets train it with the seed recipe, like the SNU.
LSTM_EPOCHS = {"digits": 5}
LATENCY_BATCHES = "1,16"
LATENCY_ITERS = 100


def run(dataset: str = "digits", out="runs/quickstart", data=None, progress=None) -> dict:
    """Run every stage on ``dataset``; return the summary (also written to ``out/summary.json``).

    Stages are logged (logger ``snudeploy.quickstart``); ``progress(label, length)`` returns a
    context manager with ``update(n)`` (e.g. ``click.progressbar``) for the long ones, or None.
    """
    from . import datasets
    from .training import dataset_defaults, keras_verbosity, train_checkpoint

    out = check_writable(Path(out), "folder")
    started = time.perf_counter()
    stage = _Stages(started)

    x_train, y_train, x_test, y_test = data_arrays = datasets.load(dataset, data)
    encoding, recipe = dataset_defaults(dataset)
    snu_spec = ModelSpec.dense(int(x_train[0].size), datasets.num_classes(y_train),
                         dataset=dataset, encoding=encoding, recipe=recipe)
    lstm_spec = snu_spec.replace(model="lstm", recipe=dataclasses.replace(
        recipe, epochs=LSTM_EPOCHS.get(dataset, recipe.epochs)))
    verbose = keras_verbosity() if progress else 0

    stage(f"1/7 Training the SNU network {'-'.join(map(str, [snu_spec.input_features, *snu_spec.units]))} on {dataset} "
          f"({len(x_train)} samples, {recipe.epochs} epochs)")
    snu_metrics = train_checkpoint(snu_spec, data_arrays, out / "snu", verbose=verbose)
    stage(f"2/7 Training the LSTM baseline ({lstm_spec.recipe.epochs} epochs)")
    lstm_metrics = train_checkpoint(lstm_spec, data_arrays, out / "lstm", verbose=verbose)

    stage("3/7 Exporting every ONNX format and validating each against TensorFlow")
    from .converters import export_files
    exported = export_files(out / "snu", "all", out / "onnx")
    exports = {f.path.name: f for f in exported}

    stage("4/7 Quantizing to int8 (ONNX Runtime static PTQ)")
    from .quantization import quantize
    int8 = quantize(out / "snu", "ptq", out / "int8", data=data, float_files=exported)

    stage("5/7 Streaming the test set through the runtime (step graph, 32 concurrent streams)")
    streamed = _stream(out / "onnx" / "step.onnx", snu_spec, x_test, y_test, progress)

    stage("6/7 Benchmarking accuracy (anytime curve, spikes, SynOps)")
    onnx_models = [out / "onnx" / "step.onnx", out / "onnx" / "customop.onnx",
                   out / "int8" / "step.int8.onnx", out / "int8" / "customop.int8.onnx"]
    accuracy_doc = _bench_accuracy(onnx_models, dataset, data, out / "snu", out / "bench")

    stage(f"7/7 Benchmarking latency against TensorFlow and the LSTM (batch {LATENCY_BATCHES}, 1 thread)")
    latency_doc = _bench_latency(onnx_models, out / "snu", out / "lstm", out / "bench", progress)

    summary = _summary(dataset, snu_metrics, lstm_metrics, exports, int8, streamed, accuracy_doc, latency_doc)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["out"] = str(out)
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


class _Stages:
    def __init__(self, started: float):
        self.started = started

    def __call__(self, message: str) -> None:
        log.info("[%6.1f s] %s", time.perf_counter() - self.started, message)


def _stream(model: Path, spec: ModelSpec, x_test, y_test, progress) -> dict:
    from .runtime import StreamingSession
    from .runtime.evaluate import evaluate

    session = StreamingSession(model, providers="cpu", threads=1)
    spikes = spec.encoding.encode(x_test, "test")
    if progress:
        with progress("streams", len(spikes)) as bar:
            result = evaluate(session, spikes, streams=32, on_progress=bar.update)
    else:
        result = evaluate(session, spikes, streams=32)
    return {"accuracy": result.accuracy(y_test), "steps_per_second": result.steps_per_second,
            "provider": session.provider}


def _bench_accuracy(models, dataset, data, checkpoint, folder: Path) -> dict:
    from .bench import accuracy, plots

    result = accuracy.run(accuracy.plan(models, dataset, data, tf=checkpoint))
    write_text(folder / "accuracy.json", json.dumps(result.document, indent=2) + "\n")
    plots.anytime(result.document["records"], folder)
    if result.raster is not None:
        plots.raster(result.raster, folder)
    return result.document


def _bench_latency(models, snu, lstm, folder: Path, progress) -> dict:
    from .bench import latency, plots

    plan = latency.plan(models, batches=LATENCY_BATCHES, threads="1", iters=LATENCY_ITERS, tf=snu, lstm=lstm)
    if progress:
        with progress("timing", plan.total_rounds) as bar:
            document = latency.run(plan, on_round=lambda: bar.update(1))
    else:
        document = latency.run(plan)
    write_text(folder / "latency.json", json.dumps(document, indent=2) + "\n")
    plots.latency(document["records"], folder)
    return document


def _p50(records, batch: int, mode: str, **match) -> float | None:
    for r in records:
        if r["batch"] == batch and r["mode"] == mode and all(r.get(k) == v for k, v in match.items()):
            return r["p50_us"]
    return None


def _summary(dataset, snu_metrics, lstm_metrics, exports, int8, streamed, accuracy_doc, latency_doc) -> dict:
    formats = {name: {"size_kb": round(f.size_bytes / 1024, 1), "spike_agreement": f.validation["spike_agreement"],
                      "prediction_agreement": f.validation["prediction_agreement"]} for name, f in exports.items()}
    step_int8 = int8["graphs"]["step"]
    records = latency_doc["records"]
    latency = {}
    for batch in sorted({r["batch"] for r in records}):
        snu_step = _p50(records, batch, "step", network="snu", framework="onnxruntime", format="step",
                        quantization="none")
        snu_int8 = _p50(records, batch, "step", network="snu", framework="onnxruntime", quantization="ptq")
        tf_step = _p50(records, batch, "step", network="snu", framework="tensorflow")
        lstm_step = _p50(records, batch, "step", network="lstm", framework="onnxruntime")
        snu_seq = _p50(records, batch, "sequence", network="snu", framework="onnxruntime", format="customop",
                       quantization="none")
        tf_seq = _p50(records, batch, "sequence", network="snu", framework="tensorflow")
        latency[f"b{batch}"] = {
            "step_onnx_us": snu_step, "step_int8_us": snu_int8, "step_tf_us": tf_step, "step_lstm_onnx_us": lstm_step,
            "sequence_customop_us": snu_seq, "sequence_tf_us": tf_seq,
            "step_speedup_vs_tf": _ratio(tf_step, snu_step), "sequence_speedup_vs_tf": _ratio(tf_seq, snu_seq),
            "snu_vs_lstm_step_speedup": _ratio(lstm_step, snu_step)}
    anytime = next(r["anytime_accuracy"] for r in accuracy_doc["records"] if r["format"] == "step")
    return {
        "dataset": dataset,
        "keras": {"snu_accuracy": snu_metrics["test_accuracy"], "lstm_accuracy": lstm_metrics["test_accuracy"],
                  "snu_train_seconds": snu_metrics["train_seconds"], "lstm_train_seconds": lstm_metrics["train_seconds"],
                  "lstm_epochs": len(lstm_metrics["history"]["loss"]),
                  "snu_epochs": len(snu_metrics["history"]["loss"]),
                  "lstm_vs_snu_epoch_time": _ratio(lstm_metrics["train_seconds"] / len(lstm_metrics["history"]["loss"]),
                                                   snu_metrics["train_seconds"] / len(snu_metrics["history"]["loss"]))},
        "runtime": streamed,
        "int8": {"accuracy": step_int8["int8_accuracy"], "float_accuracy": step_int8["float_accuracy"],
                 "drop_points": step_int8["accuracy_drop_points"], "size_ratio": step_int8["size_ratio"]},
        "formats": formats,
        "latency": latency,
        "anytime_accuracy": anytime,
        "steps_to_within_1_point": 1 + int(np.argmax(np.asarray(anytime) >= anytime[-1] - 0.01)),
    }


def _ratio(numerator, denominator):
    return round(numerator / denominator, 2) if numerator and denominator else None


def format_summary(s: dict) -> str:
    """The summary as three tables for the terminal."""
    k, rt, q = s["keras"], s["runtime"], s["int8"]
    accuracy = render(["accuracy", "value", "note"], [
        ["SNU, Keras", _pct(k["snu_accuracy"]), ""],
        ["SNU, ONNX Runtime (streamed)", _pct(rt["accuracy"]), ""],
        ["SNU, int8 PTQ", _pct(q["accuracy"]), f"{-q['drop_points']:+.2f} pts vs float"],
        ["LSTM baseline, Keras", _pct(k["lstm_accuracy"]), f"{k['lstm_epochs']} epochs"],
        ["anytime: within 1 pt after", f"{s['steps_to_within_1_point']} of {len(s['anytime_accuracy'])} steps", ""],
    ], "lrl")
    rows = [[name, f"{f['size_kb']:.0f}", f"{f['spike_agreement']:.6f}", f"{f['prediction_agreement']:.4f}"]
            for name, f in s["formats"].items()]
    rows.append(["step.int8.onnx", f"{s['formats']['step.onnx']['size_kb'] / q['size_ratio']:.0f}",
                 f"{q['size_ratio']}x smaller", ""])
    formats = render(["format", "size KB", "spike agr.", "pred. agr."], rows, "lrrr")
    labels = [("SNU step, ONNX", "step_onnx_us", " µs"), ("SNU step, int8", "step_int8_us", " µs"),
              ("SNU step, TensorFlow", "step_tf_us", " µs"), ("LSTM step, ONNX", "step_lstm_onnx_us", " µs"),
              ("SNU sequence, customop", "sequence_customop_us", " µs"),
              ("SNU sequence, TensorFlow", "sequence_tf_us", " µs"), ("step speed-up vs TF", "step_speedup_vs_tf", "x"),
              ("sequence speed-up vs TF", "sequence_speedup_vs_tf", "x"),
              ("SNU vs LSTM step speed-up", "snu_vs_lstm_step_speedup", "x")]
    latency = render(["latency p50, 1 thread, CPU", *s["latency"]],
                     [[label, *(_fmt(v[key], unit) for v in s["latency"].values())] for label, key, unit in labels],
                     "l" + "r" * len(s["latency"]))
    return "\n".join([
        f"snudeploy quickstart on {s['dataset']} — done in {s['seconds']:.0f} s; artifacts in {s['out']}", "",
        accuracy, "", formats, "", latency, "",
        f"Training: an LSTM epoch took {k['lstm_vs_snu_epoch_time']}x as long as an SNU epoch "
        f"(LSTM {k['lstm_train_seconds']:.0f} s / {k['lstm_epochs']} epochs, "
        f"SNU {k['snu_train_seconds']:.0f} s / {k['snu_epochs']} epochs)",
        f"Plots and JSON: {s['out']}/bench/  ·  summary: {s['out']}/summary.json"])


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _fmt(value, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x" if unit == "x" else f"{value:,.0f}{unit}"
