"""`snudeploy run`: stream a dataset's test split through the runtime and report accuracy."""

from __future__ import annotations

import warnings

import click

from ..runtime.providers import CHOICES as PROVIDERS
from .options import check_outputs, count, data_option, dataset_option, digest_option, json_option, model_argument, \
    progress, write_json

RUN_TIMEOUT = 60.0  # seconds per ONNX Runtime call: a hostile graph cannot hang `run`


@click.command()
@model_argument
@dataset_option(help="Dataset whose test split to run [default: the one named in the model's metadata].")
@data_option
@click.option("--limit", type=count("samples"), metavar="N", help="Run only the first N test samples.")
@click.option("--streams", type=count("batch"), default=32, show_default=True, metavar="N",
              help="Samples in flight at once: concurrent streams stepped together (or the batch with --sequence).")
@click.option("--provider", type=click.Choice(PROVIDERS), default="cpu", show_default=True,
              help="ONNX Runtime execution provider; cuda falls back to cpu with a warning.")
@click.option("--threads", type=count("threads"), metavar="N", help="ONNX Runtime intra-op threads [its default].")
@click.option("--sequence", is_flag=True, help="Run whole sequences instead of stepping streams one step at a time.")
@click.option("--run-timeout", type=click.FloatRange(0, min_open=True), default=RUN_TIMEOUT, show_default=True,
              metavar="S", help="Seconds one ONNX Runtime call may take before it is stopped.")
@digest_option
@json_option
def run(model, dataset, data, limit, streams, provider, threads, sequence, run_timeout, check_digest, json_path):
    """Encode a test split as MODEL.onnx was trained (its metadata's encoding, test seed) and run it.

    Sequences stream for their own length, their raw values encoded per stream by the
    runtime (StreamingSession.feed). Prints accuracy, mean output spikes per sample,
    throughput in sample-steps per second (one stream advanced one time step) and the
    provider in use.
    """
    from ..evaluation import test_split
    from ..runtime import StreamingSession
    from ..runtime.evaluate import evaluate, feed_sequences

    check_outputs((json_path, "file"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = StreamingSession(model, providers=provider, threads=threads, run_timeout=run_timeout,
                                   check_digest=check_digest)
    for warning in caught:
        click.echo(f"Warning: {warning.message}", err=True)
    split = test_split(session.info, dataset, data, limit, str(model))
    samples, timesteps = split.spikes.shape[:2]
    fed = split.raw is not None and not sequence and session.info.encoding.STREAMS
    with progress(f"{'sequences' if sequence else 'streams'} of {split.dataset}", samples) as bar:
        if fed:
            result = feed_sequences(session, split.raw, split.lengths, streams, on_progress=bar.update)
        else:
            result = evaluate(session, split.spikes, streams, sequence, on_progress=bar.update, lengths=split.lengths)
    steps = split.steps
    results = {
        "model": str(model), "dataset": split.dataset, "samples": samples, "timesteps": timesteps,
        "steps_per_sample": [int(steps.min()), int(steps.max())],
        "mode": "sequence" if sequence else "feed" if fed else "stream", "streams": streams,
        "readout": session.info.readout.to_dict(), "accuracy": result.accuracy(split.labels),
        "mean_output_spikes": result.mean_output_spikes,
        "steps_per_second": result.steps_per_second,
        "seconds": result.seconds, "provider": session.provider, "threads": threads,
    }
    length = f"{timesteps}" if steps.min() == steps.max() else f"{steps.min()}-{steps.max()}"
    how = "whole sequences" if sequence else f"{streams} concurrent streams" + (", raw values fed" if fed else "")
    click.echo(f"{split.dataset} test: {samples} samples x {length} steps, {how}, {session.provider}")
    spikes = result.mean_output_spikes
    click.echo(f"accuracy {results['accuracy']:.4f}  "
               + (f"output spikes/sample {spikes:.2f}  " if spikes is not None else "")
               + f"{results['steps_per_second']:.0f} sample-steps/s  ({result.seconds:.2f} s)")
    write_json(json_path, results)
