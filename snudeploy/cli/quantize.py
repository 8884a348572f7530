"""`snudeploy quantize`: int8 ONNX graphs by tfmot QAT or ONNX Runtime PTQ, with a report."""

from __future__ import annotations

from pathlib import Path

import click

from .options import data_option, json_option, write_json


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--method", type=click.Choice(["ptq", "qat"]), required=True,
              help="ptq: ONNX Runtime static quantization of the export; qat: tfmot fine-tuning, then QDQ.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR",
              help="Folder for the int8 graphs, the float parents and quantization.json.")
@click.option("--calibration", type=int, default=256, show_default=True, metavar="N",
              help="Training samples used to calibrate activation ranges.")
@click.option("--epochs", type=click.IntRange(1), default=1, show_default=True, help="QAT fine-tuning epochs.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="QAT learning rate [a tenth of the recipe's].")
@click.option("--limit", type=click.IntRange(1), metavar="N", help="QAT on the first N training samples only.")
@click.option("--test-samples", type=click.IntRange(1), metavar="N", help="Compare on the first N test samples [all].")
@data_option
@json_option
def quantize(checkpoint, method, out, calibration, epochs, lr, limit, test_samples, data, json_path):
    """Quantize CHECKPOINT to int8 ONNX and compare it with its float parent.

    Writes step.int8.onnx (streaming) and customop.int8.onnx (whole sequences) and prints
    accuracy (float and int8), prediction and spike agreement, size and step latency.
    """
    from ..errors import ConfigurationError
    from ..quantization import quantize as run

    if calibration < 1:
        raise ConfigurationError(f"--calibration must be at least 1 sample, got {calibration}.")
    result = run(checkpoint, method, out, calibration=calibration, data=data, epochs=epochs, lr=lr, limit=limit,
                 test_samples=test_samples, log=lambda message: click.echo(message, err=True))
    click.echo(format_table(result))
    click.echo(f"int8 models and quantization.json in {out}")
    write_json(json_path, result)


def format_table(result: dict) -> str:
    header = (f"{'graph':<10} {'float acc':>9} {'int8 acc':>9} {'drop pts':>8} {'pred agr':>8} "
              f"{'spike agr per layer':<24} {'size KB f/i8':>14} {'ratio':>5} {'lat µs b1 f/i8':>15} "
              f"{'lat µs b256 f/i8':>17}")
    lines = [f"{result['method'].upper()} on {result['dataset']}", header]
    for name, g in result["graphs"].items():
        spikes = "/".join(f"{v:.3f}" for v in g["spike_agreement_per_layer"].values())
        lat = g["latency_us"]
        lines.append(
            f"{name:<10} {g['float_accuracy']:>9.4f} {g['int8_accuracy']:>9.4f} {g['accuracy_drop_points']:>8.2f} "
            f"{g['prediction_agreement']:>8.4f} {spikes:<24} "
            f"{g['float_size_bytes'] / 1024:>6.0f}/{g['int8_size_bytes'] / 1024:<7.0f} {g['size_ratio']:>5.2f} "
            f"{lat['float']['b1']:>7.0f}/{lat['int8']['b1']:<7.0f} {lat['float']['b256']:>8.0f}/{lat['int8']['b256']:<8.0f}")
    lines.append("(latency: step graph = one step; customop = one whole sequence; 1 thread, CPU)")
    return "\n".join(lines)
