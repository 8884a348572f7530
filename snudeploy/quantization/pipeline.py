"""``quantize``: a checkpoint in, int8 ONNX graphs and a report against the float parent out.

Both methods end in the same place, ONNX QDQ graphs with int8 MatMul weights:

* ``ptq`` - ONNX Runtime static quantization of the float export: per-channel symmetric
  int8 weights, calibrated on encoded training spikes;
* ``qat`` - tfmot fine-tuning with fake-quantised kernels (:mod:`.qat`), whose weights
  then lie on a per-tensor int8 grid; the same QDQ pass with per-tensor symmetric scales
  reproduces that grid exactly, so the int8 graph computes what QAT trained.

Output folder: ``float/`` (the parent's validated float exports), ``qat-checkpoint/`` and
``qat-float/`` (QAT only), ``step.int8.onnx``, ``customop.int8.onnx`` and ``quantization.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from ..errors import ConfigurationError
from ..metadata import METADATA_KEY, dumps
from ..spec import ModelSpec
from . import onnx_int8, report

METHODS = ("qat", "ptq")
REPORT_FILE = "quantization.json"


def quantize(checkpoint, method: str, out, calibration: int = 256, data=None, epochs: int = 1,
             lr: float | None = None, limit: int | None = None, test_samples: int | None = None,
             opset: int = 17, log=print, float_files=None) -> dict:
    """Quantize ``checkpoint`` with ``method``; write int8 graphs and a report into ``out``.

    ``float_files``: the checkpoint's already validated exports (``ExportedFile``s of the
    ``step`` and ``customop`` formats, as ``export_files`` returns them), to reuse instead of
    exporting the float parents again.
    """
    from .. import datasets
    from ..converters import export_files
    from ..converters.validation import run_onnx, session
    from ..training import encode_split

    if method not in METHODS:
        raise ConfigurationError(f"Unknown quantization method {method!r}; choose one of {', '.join(METHODS)}.")
    spec = ModelSpec.load(checkpoint)
    if spec.model != "snu":
        raise ConfigurationError(f"Only SNU checkpoints quantize; {checkpoint} holds a {spec.model!r} model.")
    if spec.quantization.get("method", "none") != "none":
        raise ConfigurationError(f"{checkpoint} is already quantized ({spec.quantization['method']}); "
                                 "quantize its float parent instead.")
    if isinstance(calibration, bool) or not isinstance(calibration, int) or calibration < 1:
        raise ConfigurationError(f"`calibration` must be a positive number of samples, got {calibration!r}.")
    x_train, _, x_test, y_test = datasets.load(spec.dataset, data)
    if int(np.prod(x_train.shape[1:])) != spec.input_features:
        raise ConfigurationError(f"Dataset {spec.dataset} has {int(np.prod(x_train.shape[1:]))} features per "
                                 f"sample; the checkpoint expects {spec.input_features}.")
    if test_samples:
        x_test, y_test = x_test[:test_samples], y_test[:test_samples]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    source = Path(checkpoint)
    if method == "qat":
        log(f"QAT: fine-tuning {checkpoint} with 8-bit fake-quantised kernels ({epochs} epoch(s))...")
        from .qat import finetune
        source = finetune(checkpoint, out / "qat-checkpoint", epochs=epochs, lr=lr, limit=limit, data=data)
    def float_exports(ckpt, folder):
        return {(f.format, f.graph): f for name in onnx_int8.QUANTIZABLE for f in export_files(ckpt, name, folder)}

    parents = {(f.format, f.graph): f for f in float_files or ()}
    if not all(key in parents for key in onnx_int8.QUANTIZABLE.items()):
        log("Exporting and validating the float parent graphs...")
        parents = float_exports(checkpoint, out / "float")
    sources = parents if method == "ptq" else float_exports(source, out / "qat-float")

    units = [layer["units"] for layer in parents["step", "step"].metadata["layers"]]
    calibration_spikes = encode_split(x_train[:calibration], spec, "train")
    test_spikes = encode_split(x_test, spec, "test")
    results = {"method": method, "checkpoint": str(checkpoint), "dataset": spec.dataset,
               "calibration_samples": int(len(calibration_spikes)), "graphs": {}}
    for name, graph in onnx_int8.QUANTIZABLE.items():
        log(f"Quantizing {name} (calibrating on {len(calibration_spikes)} training samples)...")
        source_file, parent_file = sources[name, graph], parents[name, graph]
        float_model = onnx_int8.inline_functions(onnx.load_model(str(source_file.path)))
        feeds = onnx_int8.calibration_feeds(session(float_model), graph, units, calibration_spikes)
        int8_model = onnx_int8.quantize_graph(float_model, feeds, per_channel=method == "ptq")
        target = out / f"{name}.int8.onnx"

        log(f"Comparing {target.name} with its float parent on {len(test_spikes)} test samples...")
        float_sess = session(str(parent_file.path))
        int8_sess = session(int8_model.SerializeToString(), disabled_optimizers=onnx_int8.ORT_DISABLED_OPTIMIZERS)
        int8_result = run_onnx(int8_sess, graph, units, test_spikes)
        figures = report.compare(run_onnx(float_sess, graph, units, test_spikes), int8_result, y_test)
        if method == "qat":  # the int8 graph should compute exactly what QAT trained
            grid = report.compare(run_onnx(session(str(source_file.path)), graph, units, test_spikes),
                                  int8_result, y_test)
            figures["vs_qat_float"] = {k: grid[k] for k in ("prediction_agreement", "spike_agreement_per_layer",
                                                            "float_accuracy")}
        quantization = {"method": method, "bits": 8, "weights": "int8 symmetric " +
                        ("per-channel" if method == "ptq" else "per-tensor (the QAT grid)"),
                        "activations": "uint8 (spikes)", "ops": onnx_int8.FLOAT_OPS_NOTE,
                        "calibration_samples": int(len(calibration_spikes)),
                        "ort_disabled_optimizers": list(onnx_int8.ORT_DISABLED_OPTIMIZERS),
                        "int8_weight_fraction": round(onnx_int8.int8_weight_fraction(int8_model), 4)}
        meta = {**source_file.metadata, "quantization": quantization,
                "validation": {"against": f"float {name} export of {Path(checkpoint).name}", **figures}}
        onnx.helper.set_model_props(int8_model, {METADATA_KEY: dumps(meta)})
        onnx.save_model(int8_model, str(target))
        latency = report.latency_us({"float": float_sess, "int8": int8_sess}, graph, units,
                                    spec.input_features, spec.encoding.timesteps)
        results["graphs"][name] = {
            "file": target.name, "float_file": str(parent_file.path), **figures,
            "float_size_bytes": parent_file.size_bytes, "int8_size_bytes": target.stat().st_size,
            "size_ratio": round(parent_file.size_bytes / target.stat().st_size, 2),
            "latency_us": latency, "latency_unit": "one step" if graph == "step" else "one whole sequence"}
    (out / REPORT_FILE).write_text(json.dumps(results, indent=2) + "\n")
    return results
