"""`snudeploy export`: checkpoint -> validated ONNX file(s) with a parity table."""

from __future__ import annotations

from pathlib import Path

import click

from ..converters.formats import ALL, DEFAULT_OPSET, FORMATS, MAX_OPSET, MIN_OPSET
from ..converters.nir_export import DEFAULT_DT, DESCRIPTION as NIR_DESCRIPTION, FORMAT as NIR
from ..datasets import NAMES as DATASETS
from ..table import render
from .options import check_outputs, checkpoint_argument, count, json_option, out_option, write_json

HEADER = ("file", "format", "graph", "nodes", "inner", "size KB", "spike agr.", "max |Δstate|", "pred. agr.", "result")


@click.command()
@checkpoint_argument
@click.option("--format", "format_", type=click.Choice([*FORMATS, ALL, NIR]), default="step", show_default=True,
              help="Export format; 'all' writes every ONNX format into --out. " + "; ".join(
                  f"{f.name}: {f.description}" for f in FORMATS.values()) + f"; {NIR}: {NIR_DESCRIPTION} (model.nir).")
@out_option
@click.option("--timesteps", type=count("timesteps"), metavar="T",
              help="T of the unrolled graph and of validation [checkpoint's encoding T].")
@click.option("--opset", type=click.IntRange(MIN_OPSET, MAX_OPSET), default=DEFAULT_OPSET, show_default=True,
              metavar="N", help=f"ONNX opset ({MIN_OPSET}-{MAX_OPSET}).")
@click.option("--dataset", type=click.Choice(DATASETS), help="Validation data [checkpoint's dataset].")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.npz",
              help="Validation data from your own .npz (the one the checkpoint was trained on), instead of --dataset.")
@click.option("--samples", type=count("samples"), default=256, show_default=True, metavar="N",
              help="Encoded test samples to validate on.")
@click.option("--force", is_flag=True, help="Write the files even when validation misses its gates.")
@click.option("--dt", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
              help=f"--format nir: the time step recorded in the graph; LIF time constants are tau = dt / (1 - decay) "
                   f"[{DEFAULT_DT:g}].")
@click.option("--approximate", is_flag=True,
              help="--format nir: export layers NIR cannot express exactly (g = relu/leaky_relu, sSNU, lateral "
                   "inhibition) as the nearest NIR graph, and report its measured agreement instead of refusing.")
@json_option
def export(checkpoint, format_, out, timesteps, opset, dataset, data, samples, force, dt, approximate, json_path):
    """Export checkpoint CHECKPOINT to ONNX, validated against TensorFlow.

    Each file is checked (onnx checker, strict shape inference, the snudeploy model
    contract) and run on ONNX Runtime next to TensorFlow on encoded test samples; it is
    written only when prediction agreement is 1.0 and spike agreement >= 0.9999 (or with
    --force). A failed validation prints the table and exits 2, writing nothing.
    --format nir writes a NIR graph (model.nir), read back, imported and validated the same
    way (docs/nir.md).
    """
    from ..converters.exporter import export_files
    from ..converters.nir_export import export_nir
    from ..errors import ValidationError

    if format_ != NIR and (dt is not None or approximate):
        raise click.UsageError("--dt and --approximate apply to --format nir only.")
    check_outputs((out, "folder"), (json_path, "file"))
    if data is not None and dataset is not None:
        raise click.UsageError("Give --dataset or --data, not both.")
    dataset = data or dataset
    try:
        files = [export_nir(checkpoint, out, dt, approximate, timesteps, dataset, samples, force)] if format_ == NIR \
            else export_files(checkpoint, format_, out, timesteps=timesteps, opset=opset, dataset=dataset,
                              samples=samples, force=force)
    except ValidationError as e:
        click.echo(table([{"file": "(not written)", **r} for r in e.report.values()]))
        write_json(json_path, {"passed": False, "error": str(e), "reports": e.report})
        raise
    summaries = [f.summary() for f in files]
    click.echo(table(summaries))
    write_json(json_path, {"passed": all(s["passed"] for s in summaries), "files": summaries,
                           "validation": {str(f.path): f.validation for f in files}})
    for f in files:
        for reason in f.validation.get("approximations", []):
            click.echo(f"Approximate: {reason}.", err=True)
    if not all(s["passed"] for s in summaries):
        click.echo("Warning: written with --force although validation failed.", err=True)


def table(summaries: list[dict]) -> str:
    """One row per file (written or rejected)."""
    def fmt(value, spec):
        return None if value is None else format(value, spec)

    rows = []
    for s in summaries:
        nodes = s.get("nodes") or {}
        rows.append([Path(str(s.get("file"))).name if s.get("file") else None, s.get("format"), s.get("graph"),
                     fmt(nodes.get("graph"), "d"),
                     fmt((nodes.get("bodies") or 0) + (nodes.get("functions") or 0), "d") if nodes else None,
                     fmt(s.get("size_kb"), ".1f"), fmt(s.get("spike_agreement"), ".6f"),
                     fmt(s.get("max_state_delta"), ".2e"), fmt(s.get("prediction_agreement"), ".4f"),
                     "approx." if s.get("exact") is False else "pass" if s.get("passed") else "FAIL"])
    return render(HEADER, rows, "lllrrrrrrl")
