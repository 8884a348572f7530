"""`snudeploy run`: stream a dataset's test split through the runtime and report accuracy."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from .options import data_option, dataset_option, json_option, write_json


@click.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), metavar="MODEL.onnx")
@dataset_option(help="Dataset whose test split to run [default: the one named in the model's metadata].")
@data_option
@click.option("--limit", type=click.IntRange(1), metavar="N", help="Run only the first N test samples.")
@click.option("--streams", type=click.IntRange(1), default=32, show_default=True, metavar="N",
              help="Samples in flight at once: concurrent streams stepped together (or the batch with --sequence).")
@click.option("--provider", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
              help="ONNX Runtime execution provider; cuda falls back to cpu with a warning.")
@click.option("--threads", type=click.IntRange(1), metavar="N", help="ONNX Runtime intra-op threads [its default].")
@click.option("--sequence", is_flag=True, help="Run whole sequences instead of stepping streams one step at a time.")
@json_option
def run(model, dataset, data, limit, streams, provider, threads, sequence, json_path):
    """Encode a test split as the model was trained (its metadata's encoding, test seed) and run it.

    Prints accuracy, mean output spikes per sample, throughput in sample-steps per second
    (one stream advanced one time step) and the provider in use.
    """
    from .. import datasets
    from ..errors import ConfigurationError, DatasetError
    from ..runtime import StreamingSession
    from ..runtime.evaluate import check_data, encode_test_split, evaluate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = StreamingSession(model, providers=provider, threads=threads)
    for warning in caught:
        click.echo(f"Warning: {warning.message}", err=True)
    name = dataset or session.info.raw.get("dataset")
    if not name:
        raise ConfigurationError(f"{model} does not name its dataset in its metadata; pass --dataset.")
    _, _, x_test, y_test = datasets.load(name, data)
    x, y = x_test[:limit], y_test[:limit]
    if not len(x):
        raise DatasetError(f"{name} has no test samples.")
    check_data(session.info, x, y, str(model), name)
    spikes = encode_test_split(session.info, x, str(model))
    samples, timesteps = spikes.shape[:2]
    with click.progressbar(length=samples, label=f"{'sequences' if sequence else 'streams'} of {name}",
                           file=click.get_text_stream("stderr")) as bar:
        result = evaluate(session, spikes, streams, sequence, on_progress=bar.update)
    seconds = result.seconds

    results = {
        "model": str(model), "dataset": name, "samples": samples, "timesteps": timesteps,
        "mode": "sequence" if sequence else "stream", "streams": streams,
        "accuracy": result.accuracy(y),
        "mean_output_spikes": result.mean_output_spikes,
        "steps_per_second": result.steps_per_second,
        "seconds": seconds, "provider": session.provider, "threads": threads,
    }
    click.echo(f"{name} test: {samples} samples x {timesteps} steps, "
               f"{'whole sequences' if sequence else f'{streams} concurrent streams'}, {session.provider}")
    click.echo(f"accuracy {results['accuracy']:.4f}  output spikes/sample {results['mean_output_spikes']:.2f}  "
               f"{results['steps_per_second']:.0f} sample-steps/s  ({seconds:.2f} s)")
    write_json(json_path, results)
