"""``quantize``: a checkpoint in, int8 ONNX graphs and a report against the float parent out.

Both methods end in the same place, int8 ONNX graphs with integer MatMuls (:mod:`.int8`):

* ``ptq`` - the float export's weights quantized per output unit (symmetric int8);
* ``qat`` - tfmot fine-tuning with fake-quantised kernels (:mod:`.qat`, tf-keras child
  process), whose weights then lie on a per-layer int8 grid; quantizing the fine-tuned
  export per layer reproduces that grid exactly, so the int8 graph computes what QAT trained.

Spikes need no calibration: they are exactly 0 or 1 (uint8, scale 1, zero point 0).
Before an int8 file is written it is run on ONNX Runtime and on ``onnx.reference`` and
must agree bit for bit; then it is compared with its float parent on the test split.

Output folder: ``float/`` (the parent's validated float exports), ``qat-checkpoint/`` and
``qat-float/`` (QAT only), ``step.int8.onnx``, ``customop.int8.onnx`` and ``quantization.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import onnx

from .. import __version__, arguments, datasets, digest, kinds
from ..errors import ConfigurationError, ValidationError
from ..evaluation import check_fits
from ..files import Transaction, check_writable
from ..metadata import Quantization
from ..runtime import Engine, ReferenceEngine, SessionSettings, rollout
from ..spec import ModelSpec
from . import int8, methods, report

REPORT_FILE = "quantization.json"
EXACT_SAMPLES = 16  # samples run on onnx.reference (slow, exact) before an int8 file is written
log = logging.getLogger("snudeploy.quantize")


def quantize(checkpoint, method: str, out, data=None, epochs: int = 1, lr: float | None = None,
             limit: int | None = None, test_samples: int | None = None, float_files=None) -> dict:
    """Quantize ``checkpoint`` with ``method``; write int8 graphs and a report into ``out``.

    ``float_files``: the checkpoint's already validated exports (``ExportedFile``s of the
    ``step`` and ``customop`` formats, as ``export_files`` returns them), to reuse instead of
    exporting the float parents again.
    """
    from ..converters import export_files

    chosen = methods.get(method)
    out = check_writable(out, "folder")
    spec = ModelSpec.load(checkpoint)
    if spec.model != "snu":
        raise ConfigurationError(f"Only SNU checkpoints quantize; {checkpoint} holds a {spec.model!r} model.")
    if spec.quantization_method != "none":
        raise ConfigurationError(f"{checkpoint} is already quantized ({spec.quantization_method}); "
                                 "quantize its float parent instead.")
    if chosen.fine_tunes and not all(isinstance(layer, kinds.DenseSNU) for layer in spec.layers):
        raise ConfigurationError(f"QAT fine-tunes dense SNU networks (tfmot quantizes their cells); {checkpoint} "
                                 "has other layers: quantize it with ptq.")
    averaged = [i for i, layer in enumerate(spec.layers) if isinstance(layer, kinds.AvgPool2D)]
    if averaged:
        raise ConfigurationError(f"{checkpoint} has average pooling (layer {', '.join(map(str, averaged))}): its "
                                 "fractions would make the next product float, which rounds differently on "
                                 "different CPUs. int8 graphs need sum_pool2d (whole numbers of spikes).")
    refused = int8.refusal(spec.encoding, str(checkpoint), spec.readout)
    if refused:
        raise ConfigurationError(refused)
    if not spec.spiking:
        raise ConfigurationError(f"{checkpoint} is a soft sSNU (sigmoid outputs): int8 graphs multiply spikes "
                                 "(0 or 1) only; quantize a spiking SNU.")
    epochs = arguments.integer(epochs, "epochs", 1, 1000)
    test_samples = arguments.optional_integer(test_samples, "test_samples", 1, arguments.LIMITS["samples"])
    loaded = datasets.load_data(spec.dataset, data, sequences=spec.encoding.SEQUENCES)
    x_test, y_test = loaded.x_test[:test_samples], loaded.y_test[:test_samples]
    lengths = None if loaded.lengths_test is None else loaded.lengths_test[:test_samples]
    if not spec.encoding.SEQUENCES:
        check_fits(spec.input_features, spec.classes, x_test, y_test, str(checkpoint), spec.dataset)

    source = Path(checkpoint)
    if chosen.fine_tunes:
        log.info("QAT: fine-tuning %s with 8-bit fake-quantised kernels (%d epoch(s))...", checkpoint, epochs)
        from .qat import finetune
        source = finetune(checkpoint, out / "qat-checkpoint", epochs=epochs, lr=lr, limit=limit, data=data)

    def float_exports(ckpt, folder):
        return {(f.format, f.graph): f for name in int8.QUANTIZABLE
                for f in export_files(ckpt, name, folder, dataset=data if spec.dataset is None else None)}

    parents = {(f.format, f.graph): f for f in float_files or ()}
    if not all(key in parents for key in int8.QUANTIZABLE.items()):
        log.info("Exporting and validating the float parent graphs...")
        parents = float_exports(checkpoint, out / "float")
    sources = parents if not chosen.fine_tunes else float_exports(source, out / "qat-float")

    test_spikes = spec.encoding.encode(x_test, "test", lengths)  # sequences: padded with no input to the longest
    results = {"method": chosen.name, "checkpoint": str(checkpoint), "dataset": spec.dataset, "graphs": {}}
    with Transaction(out) as files:
        for name, graph in int8.QUANTIZABLE.items():
            source_file, parent_file = sources[name, graph], parents[name, graph]
            log.info("Quantizing %s and checking it against onnx.reference...", name)
            int8_model = int8.quantize_graph(onnx.load_model(str(source_file.path)), chosen.per_channel)
            info = source_file.info.replace(
                input=dataclasses.replace(source_file.info.input, binary=True),
                quantization=Quantization(chosen.name, {
                    "bits": 8, "arithmetic": "integer", "weights": chosen.weights, "activations": "spikes as uint8 (scale 1, zero point 0)",
                    "ops": int8.FLOAT_OPS_NOTE,
                    "int8_weight_fraction": round(int8.int8_weight_fraction(int8_model), 4)}),
                producer={**source_file.info.producer, "snudeploy": __version__})
            int8_bytes = digest.attach(int8_model, info.to_json())
            int8_engine = Engine(int8_bytes, SessionSettings("cpu"))
            exact = report.exact(rollout(int8_engine, test_spikes[:EXACT_SAMPLES]),
                                 rollout(ReferenceEngine(int8_bytes), test_spikes[:EXACT_SAMPLES]))
            if not (exact["spikes_equal"] and exact["states_equal"]):
                raise ValidationError(f"The int8 {name} graph runs differently on ONNX Runtime than its exact "
                                      f"reference ({exact}); nothing written.", report={name: exact})

            log.info("Comparing %s.int8.onnx with its float parent on %d test samples...", name, len(test_spikes))
            figures = report.compare(Engine(str(parent_file.path)), int8_engine, test_spikes, y_test)
            if chosen.fine_tunes:  # the int8 graph should compute exactly what QAT trained
                grid = report.compare(Engine(str(source_file.path)), int8_engine, test_spikes, y_test)
                figures["vs_qat_float"] = {k: grid[k] for k in ("prediction_agreement", "spike_agreement_per_layer",
                                                                "float_accuracy")}
            info = info.replace(validation={"against": f"float {name} export of {Path(checkpoint).name}",
                                            "exact_reference": exact, **figures})
            int8_bytes = digest.attach(int8_model, info.to_json())
            target = files.write_bytes(f"{name}.int8.onnx", int8_bytes)
            latency = report.latency_us({"float": str(parent_file.path), "int8": int8_bytes}, spec.encoding.timesteps)
            results["graphs"][name] = {
                "file": target.name, "float_file": str(parent_file.path), **figures, "exact_reference": exact,
                "float_size_bytes": parent_file.size_bytes, "int8_size_bytes": len(int8_bytes),
                "size_ratio": round(parent_file.size_bytes / len(int8_bytes), 2),
                "latency_us": latency, "latency_unit": "one step" if graph == "step" else "one whole sequence"}
        files.write_text(REPORT_FILE, json.dumps(results, indent=2) + "\n")
    return results

