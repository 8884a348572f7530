"""`snudeploy quickstart`: the whole pipeline on one dataset, ending in one summary table."""

from __future__ import annotations

from pathlib import Path

import click

from .options import check_outputs, data_option, dataset_option, progress


@click.command()
@dataset_option(default="digits", help="Dataset to run on; digits works offline in a few minutes, "
                                       "fashion-mnist and mnist run at full size (tens of minutes).")
@data_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/quickstart"),
              show_default=True, metavar="DIR", help="Folder for every artifact.")
def quickstart(dataset, data, out):
    """Train, export, quantize, stream and benchmark an SNU network, then print a summary.

    Trains the SNU seed network (and an LSTM baseline), exports every ONNX format and
    validates each against TensorFlow, quantizes to int8, streams the test set through
    the runtime, and benchmarks accuracy and latency against TensorFlow and the LSTM.
    """
    from ..extras import require

    require("train", "The quickstart")
    require("plots", "The quickstart's plots")
    from ..quickstart import format_summary, run

    check_outputs((out, "folder"))
    summary = run(dataset, out, data, progress=progress)
    click.echo(format_summary(summary))
