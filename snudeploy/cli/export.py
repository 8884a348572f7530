"""`snudeploy export`: checkpoint -> validated ONNX file(s) with a parity table."""

from __future__ import annotations

from pathlib import Path

import click

from ..converters.formats import get as get_format, names as format_names
from ..datasets import NAMES as DATASETS
from .options import json_option, write_json

HEADER = ("file", "format", "graph", "nodes", "inner", "size KB", "spike agr.", "max |Δstate|", "pred. agr.", "result")


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path), metavar="CKPT")
@click.option("--format", "format_", type=click.Choice([*format_names(), "all"]), default="step", show_default=True,
              help="Export format; 'all' writes every format into --out. " + "; ".join(
                  f"{name}: {get_format(name).description}" for name in format_names()) + ".")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR",
              help="Folder for the .onnx file(s) and validation.json.")
@click.option("--timesteps", type=click.IntRange(1), metavar="T",
              help="T of the unrolled graph and of validation [checkpoint's encoding T].")
@click.option("--opset", type=int, default=17, show_default=True, metavar="N", help="ONNX opset (13-18).")
@click.option("--dataset", type=click.Choice(DATASETS), help="Validation data [checkpoint's dataset].")
@click.option("--samples", type=click.IntRange(1), default=256, show_default=True, metavar="N",
              help="Encoded test samples to validate on.")
@click.option("--force", is_flag=True, help="Write the files even when validation misses its gates.")
@json_option
def export(checkpoint, format_, out, timesteps, opset, dataset, samples, force, json_path):
    """Export checkpoint CKPT to ONNX, validated against TensorFlow.

    Each file is checked (onnx checker, strict shape inference, naming contract) and run on
    ONNX Runtime next to TensorFlow on encoded test samples; it is written only when
    prediction agreement is 1.0 and spike agreement >= 0.9999 (or with --force). Exit code
    1 when validation fails.
    """
    from ..errors import ValidationError
    from ..converters.exporter import export_files

    click.echo(f"Exporting {checkpoint} as {format_} (opset {opset}), validating on {samples} samples...", err=True)
    try:
        files = export_files(checkpoint, format_, out, timesteps=timesteps, opset=opset, dataset=dataset,
                             samples=samples, force=force)
    except ValidationError as e:
        rows = [_row({"file": "(not written)", "format": r.get("format"), "graph": r.get("graph"), "nodes": None,
                      "size_kb": None, **r}) for r in e.report.values()]
        click.echo(_table(rows))
        click.echo(f"Error: {e}", err=True)
        write_json(json_path, {"passed": False, "error": str(e), "reports": e.report})
        click.get_current_context().exit(1)
    summaries = [f.summary() for f in files]
    click.echo(_table([_row(s) for s in summaries]))
    write_json(json_path, {"passed": all(s["passed"] for s in summaries), "files": summaries,
                           "validation": {str(f.path): f.validation for f in files}})
    if not all(s["passed"] for s in summaries):
        click.echo("Warning: written with --force although validation failed.", err=True)


def _row(s: dict) -> tuple:
    nodes = s.get("nodes") or {}
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    return (Path(str(s.get("file"))).name if s.get("file") else "-", s.get("format") or "-", s.get("graph") or "-",
            fmt(nodes.get("graph"), "d"), fmt((nodes.get("bodies") or 0) + (nodes.get("functions") or 0), "d")
            if nodes else "-", fmt(s.get("size_kb"), ".1f"), fmt(s.get("spike_agreement"), ".6f"),
            fmt(s.get("max_state_delta"), ".2e"), fmt(s.get("prediction_agreement"), ".4f"),
            "pass" if s.get("passed") else "FAIL")


def _table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(HEADER), line(["-" * w for w in widths]), *map(line, rows)])
