"""`snudeploy import-nir`: a NIR graph -> a snudeploy ONNX step graph (the logic lives in converters.nir_import)."""

from __future__ import annotations

from pathlib import Path

import click

from ..table import render
from .options import check_outputs, json_option, out_option, write_json


@click.command("import-nir")
@click.argument("graph", type=click.Path(dir_okay=False, path_type=Path), metavar="GRAPH.nir")
@out_option
@click.option("--dt", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
              help="Time step of the forward-Euler discretisation [the graph's metadata 'dt'; needed if it has none].")
@json_option
def import_nir(graph, out, dt, json_path):
    """Import NIR graph GRAPH.nir (written by nir.write) as DIR/step.onnx, a snudeploy step graph.

    Reads Input, Affine, Linear, Scale, Threshold, Flatten, Conv2d, SumPool2d, AvgPool2d, LIF,
    CubaLIF, LI, CubaLI, IF, I and Output nodes, subgraphs and recurrent cycles, discretised
    with forward Euler at dt. The step graph takes its input as the NIR graph declares it
    (images channels first, [C, H, W]) and has one state pair per neuron state variable
    (l{i}_v, l{i}_i) and per cycle (l{i}_feedback), so it streams with StreamingSession and
    `snudeploy run`, and benchmarks with `snudeploy bench latency`. Unsupported nodes (Conv1d,
    Delay) and broken files are one error, exit code 2, nothing written. See docs/nir.md.
    """
    from ..converters.nir_import import import_nir as run

    check_outputs((out, "folder"), (json_path, "file"))
    summary = run(graph, out, dt).summary()
    rows = [[layer["layer"], layer["node"], layer["cell"], layer["units"], _shape(layer["shape"]),
             ", ".join(layer["states"]) or "-"] for layer in summary["layers"]]
    click.echo(render(["layer", "NIR node", "cell", "units", "shape", "states"], rows, "rllrll"))
    click.echo(f"{summary['file']}: {_shape(summary['input_shape'])} inputs -> {summary['classes']} outputs, "
               f"{summary['nodes']} ONNX nodes, {summary['size_kb']} KB, dt = {summary['dt']:g} s")
    write_json(json_path, summary)


def _shape(shape: list) -> str:
    """``64`` or ``1x8x8`` (channels first, as NIR shapes images)."""
    return "x".join(map(str, shape))
