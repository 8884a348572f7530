"""Rebuild the shipped reference models' ONNX files and cards from their checkpoints (maintainers).

    python models/refresh.py [NAME ...]      # default: every model in manifest.json

For each model: export the float formats and validate them against TensorFlow on the whole
test split, quantize to int8 (PTQ; checked bit for bit against onnx.reference) unless its
encoding has no int8 graph (real-valued input), measure every file's test accuracy through
the runtime (sequences: each for its own length), and write the files, validation.json and
CARD.md into the model's folder in one transaction. The checkpoint (spec.json,
model.weights.h5, metrics.json) is not retrained: its training figures come from its metrics.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


from snudeploy import kinds
from snudeploy.bench.environment import cpu_model, vector_extensions
from snudeploy.converters import export_files
from snudeploy.converters.checks import op_histogram
from snudeploy.evaluation import test_split
from snudeploy.files import Transaction
from snudeploy.quantization import quantize
from snudeploy.quantization.int8 import refusal
from snudeploy.runtime import StreamingSession, load_model
from snudeploy.runtime.evaluate import evaluate
from snudeploy.spec import ModelSpec
from snudeploy.table import render

HERE = Path(__file__).parent
FLOAT_FORMATS = ("step", "unrolled", "customop")


def refresh(name: str, entry: dict) -> None:
    folder = HERE / name
    spec = ModelSpec.load(folder)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        samples = len(test_split(load_model(folder / "step.onnx").info, entry["dataset"]).labels) \
            if (folder / "step.onnx").is_file() else 10_000
        exported = [f for fmt in FLOAT_FORMATS for f in export_files(folder, fmt, tmp / "float", samples=samples)]
        paths = {f.path.name: f.path for f in exported if f.path.name in entry["files"]}
        if refusal(spec.encoding, name, spec.readout) is None:
            report = quantize(folder, "ptq", tmp / "int8", float_files=exported)
            paths.update({f"{g}.int8.onnx": tmp / "int8" / f"{g}.int8.onnx" for g in report["graphs"]})
        rows = [_row(file, paths[file], entry["dataset"]) for file in entry["files"]]
        with Transaction(folder) as files:
            for file in entry["files"]:
                files.write_bytes(file, paths[file].read_bytes())
            files.write_text("validation.json", (tmp / "float" / "validation.json").read_text())
            files.write_text("CARD.md", card(name, entry, spec, rows))


def _row(file: str, path: Path, dataset: str) -> dict:
    info = load_model(path).info
    split = test_split(info, dataset)
    accuracy = evaluate(StreamingSession(path), split.spikes, 256, sequence=info.sequence,
                        lengths=split.lengths).accuracy(split.labels)
    v = info.validation or {}
    if info.quantization.method == "none":
        parity = (f"vs TF on {v['samples']:,}: spikes {v['spike_agreement']:.6f}, predictions "
                  f"{v['prediction_agreement']:.4f}, max \\|Δs\\| {v['max_state_delta']:.1e}")
        weights = "float32"
    else:
        per_layer = "/".join(f"{a:.3f}" for a in v["spike_agreement_per_layer"].values())
        exact = v["exact_reference"]
        parity = (f"vs float on {v['test_samples']:,}: spikes {per_layer}, predictions "
                  f"{v['prediction_agreement']:.4f}; onnx.reference: "
                  f"{'bit-exact' if exact['spikes_equal'] and exact['states_equal'] else 'DIFFERENT'}")
        weights = f"int8 {info.quantization.method.upper()} (integer products)"
    nodes = op_histogram(__import__("onnx").load(str(path)))["total"]["graph"]
    return {"file": file, "format": info.format, "graph": info.graph, "weights": weights,
            "size": f"{path.stat().st_size / 1024:.0f} KB", "nodes": nodes, "parity": parity,
            "accuracy": f"{100 * accuracy:.2f} %", "samples": len(split.labels)}


def card(name: str, entry: dict, spec: ModelSpec, rows: list[dict]) -> str:
    metrics, enc, recipe = spec.metrics, spec.encoding, spec.recipe
    spikes = " / ".join(f"{s:.1f}" for s in metrics["mean_spikes_per_sample"])
    cells = {(layer.decay, layer.g) for layer in spec.layers if isinstance(layer, kinds.SNUKind)}
    cell = ", ".join(f"decay {decay}, g = {g}" for decay, g in sorted(cells))
    if enc.SEQUENCES:
        encoding = (f"{enc.kind} encoding of each step (per-channel normalisation fitted on the training split), "
                    f"sequences of up to {enc.timesteps} steps, each run for its own length")
    else:
        encoding = f"T = {enc.timesteps}, at most {enc.max_spikes:g} expected spikes per input"
    inputs = (f"{metrics['input_spikes_per_sample']:.0f} input" if metrics.get("input_spikes_per_sample") is not None
              else "real-valued input")
    quantized = any(".int8." in f for f in entry["files"])
    int8_note = ("The float files equal the Keras model; the int8 files give the same spikes on every CPU (integer "
                 "products, checked bit for bit against `onnx.reference`), so their accuracy is the same everywhere."
                 if quantized else
                 f"The files equal the Keras model. There is no int8 file: {refusal(enc, 'this network', spec.readout)}")
    table = render(["file", "format", "graph", "weights", "size", "nodes", "parity", "test accuracy"],
                   [[f"`{r['file']}`", r["format"], r["graph"], r["weights"], r["size"], r["nodes"], r["parity"],
                     r["accuracy"]] for r in rows], "llllrrlr")
    needs = {"digits": "the base install alone (the digits split ships with snudeploy)",
             "fashion-mnist": "the base install and the data: Debian's `dataset-fashion-mnist`, or `--data PATH`"}.get(
        entry["dataset"], "the base install and the `[data]` extra (sktime's wheel holds the data set)")
    command = entry.get("train", f"snudeploy train --dataset {entry['dataset']} --out models/{name}")
    samples = rows[0]["samples"]
    return f"""# {entry['title']} ({spec.describe()})

SNU {spec.describe()} on `{entry['dataset']}`: {encoding}, {cell}, {spec.readout.label} readout, {recipe.loss}, {recipe.optimizer} {recipe.rate_label}, batch {recipe.batch_size}, {recipe.epochs} epochs.

Checkpoint: `spec.json` + `model.weights.h5` (load with `snudeploy.load_checkpoint("models/{name}")`).
Keras test accuracy {100 * metrics['test_accuracy']:.2f} % on the encoded test split (seed + 1); spikes per test sample:
{inputs}, {spikes} in the {len(spec.units)} SNU layers;
training took {metrics['train_seconds']:.0f} s (TF {metrics['versions']['tensorflow']}, CPU).

## Files and measured accuracy

Test accuracy is ONNX Runtime (CPU) on the whole test split ({samples:,} samples), encoded as in training.
{int8_note} Reproduce a row with {needs}:

```bash
snudeploy run models/{name}/{'step.int8.onnx' if quantized else 'step.onnx'} --sequence     # any file of the table; without --sequence: streamed, same result
```

{table}

Measured on {cpu_model()} ({', '.join(vector_extensions()) or 'no vector extensions found'}) with
`python models/refresh.py {name}`, which rebuilds every file and this card from the checkpoint.

## Reproduce from scratch

```bash
{command}
python models/refresh.py {name}
```

Training is seeded (`--seed 0`); TensorFlow's CPU kernels are not guaranteed bit-identical across
machines and thread counts, so a retrained checkpoint may differ by a few tenths of a point. The files
here reproduce the table exactly; `tests/test_models.py` checks every row in CI.
"""


def main(names: list[str]) -> None:
    manifest = json.loads((HERE / "manifest.json").read_text())
    for name in names or manifest:
        print(f"Refreshing {name}...", file=sys.stderr)
        refresh(name, manifest[name])


if __name__ == "__main__":
    main(sys.argv[1:])
