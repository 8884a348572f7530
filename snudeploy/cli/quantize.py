"""`snudeploy quantize`: int8 ONNX graphs by tfmot QAT or post-training weight quantization, with a report."""

from __future__ import annotations

import click

from ..quantization.methods import METHODS
from ..table import render
from .options import check_outputs, checkpoint_argument, count, data_option, json_option, out_option, write_json


@click.command()
@checkpoint_argument
@click.option("--method", type=click.Choice(list(METHODS)), required=True,
              help="; ".join(f"{m.name}: {m.description}" for m in METHODS.values()) + ".")
@out_option
@click.option("--epochs", type=click.IntRange(1, 1000), default=1, show_default=True, metavar="N",
              help="QAT fine-tuning epochs.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), metavar="LR",
              help="QAT learning rate [a tenth of the recipe's].")
@click.option("--limit", type=count("samples"), metavar="N", help="QAT on the first N training samples only.")
@click.option("--test-samples", type=count("samples"), metavar="N", help="Compare on the first N test samples [all].")
@data_option
@json_option
def quantize(checkpoint, method, out, epochs, lr, limit, test_samples, data, json_path):
    """Quantize CHECKPOINT to int8 ONNX and compare it with its float parent.

    Writes step.int8.onnx (streaming) and customop.int8.onnx (whole sequences): integer
    MatMuls on spikes, checked bit for bit against onnx.reference before they are written;
    prints accuracy (float and int8), prediction and spike agreement, size and latency.
    int8 speed depends on the CPU's instruction set (AVX2 vs AVX-512 VNNI): see
    docs/quantization.md.
    """
    from ..quantization import quantize as run

    check_outputs((out, "folder"), (json_path, "file"))
    result = run(checkpoint, method, out, data=data, epochs=epochs, lr=lr, limit=limit, test_samples=test_samples)
    click.echo(table(result))
    click.echo(f"int8 models and quantization.json in {out}")
    write_json(json_path, result)


def table(result: dict) -> str:
    rows = []
    for name, g in result["graphs"].items():
        lat = g["latency_us"]
        rows.append([name, f"{g['float_accuracy']:.4f}", f"{g['int8_accuracy']:.4f}", f"{g['accuracy_drop_points']:.2f}",
                     f"{g['prediction_agreement']:.4f}",
                     "/".join(f"{v:.3f}" for v in g["spike_agreement_per_layer"].values()),
                     f"{g['float_size_bytes'] / 1024:.0f}/{g['int8_size_bytes'] / 1024:.0f}", f"{g['size_ratio']:.2f}",
                     f"{lat['float']['b1']:.0f}/{lat['int8']['b1']:.0f}",
                     f"{lat['float']['b256']:.0f}/{lat['int8']['b256']:.0f}"])
    header = ["graph", "float acc", "int8 acc", "drop pts", "pred agr", "spike agr per layer", "size KB f/i8", "ratio",
              "µs b1 f/i8", "µs b256 f/i8"]
    return (f"{result['method'].upper()} on {result['dataset']}\n" + render(header, rows, "lrrrrlrrrr") +
            "\n(latency: step graph = one step; customop = one whole sequence; 1 thread, CPU)")
