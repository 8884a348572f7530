"""`snudeploy bench latency|accuracy|serve`: measure exported models (the logic lives in snudeploy.bench)."""

from __future__ import annotations

from pathlib import Path

import click

from ..serve.config import MAX_INSTANCES, STRATEGIES
from .options import check_outputs, count, data_option, dataset_option, json_option, progress, write_json

model_arguments = click.argument("models", nargs=-1, required=True, metavar="MODEL.onnx...",
                                 type=click.Path(dir_okay=False, path_type=Path))
plot_option = click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                           help="Also write PNG plots into folder DIR.")


def _report(document: dict, table: str, json_path) -> None:
    """The machine, the table, the warnings (stderr) and the optional JSON of one bench document."""
    from ..bench import environment

    click.echo(environment.summary(document["environment"]))
    click.echo(table)
    for warning in document["warnings"]:
        click.echo(f"Warning: {warning}", err=True)
    write_json(json_path, document)


@click.group()
def bench():
    """Measure exported models: latency (with TensorFlow and LSTM baselines), accuracy, a per-operator profile, serving on Triton, training speed."""


@bench.command()
@model_arguments
@click.option("--batch", "batches", default="1", show_default=True, metavar="B[,B...]",
              help="Batch sizes: streams stepped together, or sequences per call.")
@click.option("--threads", default="1,2", show_default=True, metavar="N[,N...]",
              help="ONNX Runtime intra-op thread counts. TensorFlow rows use the first one.")
@click.option("--provider", "providers", default="cpu", show_default=True, metavar="cpu[,cuda]",
              help="ONNX Runtime providers; one this machine cannot run is an error (no fallback).")
@click.option("--warmup", type=click.IntRange(0, 100_000), default=10, show_default=True, metavar="N",
              help="Untimed calls per row before timing.")
@click.option("--iters", type=click.IntRange(1, 1_000_000), default=200, show_default=True, metavar="N",
              help="Timed calls per row (interleaved with the other rows in bursts of 5).")
@click.option("--sequence", type=count("timesteps"), metavar="T",
              help="Also time whole sequences of T steps (step graphs rolled; sequence graphs use T) "
                   "[sequence graphs: the model's T].")
@click.option("--chunk", type=count("timesteps"), metavar="K",
              help="Also time chunks of K steps per StreamingSession.step call (step graphs and free-T sequence "
                   "graphs); '/ steps' compares each with K single steps.")
@click.option("--tf", "tf_checkpoint", type=click.Path(path_type=Path), metavar="CKPT",
              help="SNU checkpoint to time in TensorFlow in the same run; rows show their speed-up over it.")
@click.option("--lstm", "lstm_checkpoint", type=click.Path(path_type=Path), metavar="CKPT",
              help="LSTM baseline checkpoint (train --model lstm) to time on ONNX Runtime and TensorFlow.")
@json_option
@plot_option
def latency(models, batches, threads, providers, warmup, iters, sequence, chunk, tf_checkpoint, lstm_checkpoint,
            json_path, plot_dir):
    """Time models per step and per whole sequence, side by side with TensorFlow and an LSTM.

    Prints p50/p90/p99/mean latency per call, throughput in stream-steps/s and, with --tf,
    each row's speed-up over the TensorFlow row of the same batch and threads
    (TF p50 / row p50). Rows whose slowest call took over 2x their fastest are flagged.
    """
    from ..bench import latency as bench_latency
    from ..bench import tables

    check_outputs((json_path, "file"), (plot_dir, "folder"))
    if plot_dir is not None:
        from ..extras import require
        require("plots", "--plot")
    plan = bench_latency.plan(models, batches, threads, providers, warmup, iters, sequence,
                              tf_checkpoint, lstm_checkpoint, chunk)
    with progress("timing rounds", plan.total_rounds) as bar:
        document = bench_latency.run(plan, on_round=lambda: bar.update(1))
    _report(document, tables.latency(document["records"]), json_path)
    if plot_dir is not None:
        from ..bench import plots
        click.echo(f"Plot: {plots.latency(document['records'], plot_dir)}")


@bench.command()
@model_arguments
@dataset_option(help="Dataset whose test split to run [default: the one the first model names].")
@data_option
@click.option("--limit", type=count("samples"), metavar="N", help="Use only the first N test samples.")
@click.option("--tf", "tf_checkpoint", type=click.Path(path_type=Path), metavar="CKPT",
              help="SNU checkpoint to compare with: its accuracy and prediction agreement on the same data.")
@json_option
@plot_option
def accuracy(models, dataset, data, limit, tf_checkpoint, json_path, plot_dir):
    """Test accuracy, spikes per layer, SynOps and anytime accuracy of models.

    The test split is encoded as in training and `snudeploy run` (the model's metadata
    encoding, test seed). SynOps count one operation per spike per target unit; dense MACs
    are what the same network costs computed densely.
    """
    from ..bench import accuracy as bench_accuracy
    from ..bench import tables

    check_outputs((json_path, "file"), (plot_dir, "folder"))
    if plot_dir is not None:
        from ..extras import require
        require("plots", "--plot")
    plan = bench_accuracy.plan(models, dataset, data, limit, tf_checkpoint)
    with progress("models", len(plan.targets) + bool(plan.tf)) as bar:
        result = bench_accuracy.run(plan, on_model=lambda: bar.update(1))
    document = result.document
    _report(document, f"{plan.dataset} test split, {document['settings']['samples']} samples\n"
            + tables.accuracy(document["records"]), json_path)
    if plot_dir is not None:
        from ..bench import plots
        click.echo(f"Plot: {plots.anytime(document['records'], plot_dir)}")
        if result.raster is not None:
            click.echo(f"Plot: {plots.raster(result.raster, plot_dir)}")


@bench.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), metavar="MODEL.onnx")
@click.option("--batch", type=count("batch"), default=1, show_default=True, metavar="B",
              help="Streams stepped together (step graphs) or sequences per call (sequence graphs).")
@click.option("--threads", type=count("threads"), default=1, show_default=True, metavar="N",
              help="ONNX Runtime intra-op threads.")
@click.option("--provider", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True,
              help="ONNX Runtime provider; one this machine cannot run is an error (no fallback).")
@click.option("--warmup", type=click.IntRange(0, 100_000), default=200, show_default=True, metavar="N",
              help="Untimed calls of each part before timing.")
@click.option("--iters", type=click.IntRange(1, 1_000_000), default=2000, show_default=True, metavar="N",
              help="Timed calls of each part, interleaved.")
@json_option
def profile(model, batch, threads, provider, warmup, iters, json_path):
    """Where one call of MODEL.onnx spends its time, by taking the graph apart.

    ONNX Runtime's own profiler costs more per node than an SNU step's small nodes, so
    the account is built from bare calls timed interleaved in one run: the model's bare
    call (the floor row of `bench latency`), an empty one-node call (what any ONNX
    Runtime call costs), and each matrix product of the model alone with its weights
    and input shape. What remains is the other nodes, reported with their cost per node.
    """
    from ..bench import profile as bench_profile
    from ..bench import tables

    check_outputs((json_path, "file"))
    document = bench_profile.profile(model, batch, threads, provider, iters, warmup)
    settings = document["settings"]
    _report(document, f"{model}: batch {settings['batch']}, {settings['threads']} thread(s), "
            f"{settings['iters']} calls\n" + tables.profile(document["records"]), json_path)


@bench.command(name="serve")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), metavar="MODEL.onnx")
@click.option("--sequences", type=count("batch"), default=32, show_default=True, metavar="N",
              help="Sequences in flight at once: concurrent client loops (Triton) and open streams (in-process).")
@click.option("--steps", type=count("timesteps"), metavar="T", help="Time steps per sequence [the model's encoding T].")
@click.option("--duration", type=click.FloatRange(0, 3600, min_open=True), default=10.0, show_default=True,
              metavar="S", help="Cap in seconds on each row's timed part; a capped row says so.")
@click.option("--instances", type=click.IntRange(1, MAX_INSTANCES), default=1, show_default=True, metavar="K",
              help="Triton model instances.")
@click.option("--max-batch", type=count("batch"), metavar="B",
              help="Triton's max batch [sequences / instances, so every sequence has a slot].")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="direct", show_default=True,
              help="Triton's sequence-batcher strategy.")
@click.option("--threads", type=count("threads"), default=1, show_default=True, metavar="N",
              help="ONNX Runtime intra-op threads (each Triton instance and the in-process session).")
@click.option("--chunk", type=count("timesteps"), default=1, show_default=True, metavar="K",
              help="Also send K steps per call and per request: three more rows, one server for both.")
@json_option
def serve_bench(model, sequences, steps, duration, instances, max_batch, strategy, threads, chunk, json_path):
    """Load-test MODEL.onnx on Triton (loopback) beside in-process StreamingSession calls.

    N sequences of T steps each: in process, stepped N streams per call and one stream per
    call; on Triton's Python backend (the [serve] extra), N concurrent gRPC client loops
    sending one step per request; with --chunk K, the same again with K steps per call and
    per request. Prints p50/p99 latency per request or call, throughput in stream-steps/s,
    and Triton's account of a request (queue, backend, requests per execution). Needs free
    loopback ports; the server stops at the end.
    """
    from ..bench import serve as bench_serve
    from ..bench import tables

    check_outputs((json_path, "file"))
    plan = bench_serve.plan(model, sequences, steps, duration, instances, max_batch, strategy, threads, chunk)
    with progress("rows", 3 * len(plan.chunks)) as bar:
        document = bench_serve.run(plan, on_row=lambda: bar.update(1))
    _report(document, f"{plan.sequences} sequences x {plan.steps} steps, cap {plan.duration:g} s per row\n"
            + tables.serve(document["records"]), json_path)


@bench.command(name="train")
@dataset_option(default="fashion-mnist", help="Dataset to train on.")
@data_option
@click.option("--epochs", type=click.IntRange(1, 100_000), metavar="N", help="Epochs per network [dataset default].")
@click.option("--limit", type=count("samples"), metavar="N", help="Train on the first N training samples only.")
@json_option
@plot_option
def train_bench(dataset, data, epochs, limit, json_path, plot_dir):
    """Time training epochs of the SNU and of the same-size LSTM, with one recipe, in one run.

    Both networks train with the dataset's defaults (Fashion-MNIST: the seed recipe,
    784-250-250-10, batch 15) on the same batches, through the code of `snudeploy train`;
    their epochs alternate so that other load on the machine falls on both. Prints seconds
    per epoch (median), samples/s, test accuracy and each epoch time over the SNU's.
    """
    from ..bench import train as bench_train
    from ..bench import tables
    from ..extras import require

    check_outputs((json_path, "file"), (plot_dir, "folder"))
    require("train", "bench train")
    if plot_dir is not None:
        require("plots", "--plot")
    plan = bench_train.plan(dataset, data, epochs, limit)
    with progress("epochs", len(plan.specs) * plan.specs[0].recipe.epochs) as bar:
        document = bench_train.run(plan, on_epoch=lambda: bar.update(1))
    records = document["records"]
    _report(document, tables.train(records) + f"\nLSTM/SNU epoch-time ratio: {records[-1]['ratio_to_snu']:.2f}",
            json_path)
    if plot_dir is not None:
        from ..bench import plots
        click.echo(f"Plot: {plots.epochs(records, plot_dir)}")
