"""`snudeploy train`: train the seed SNU network (or the LSTM baseline) on a dataset."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import click

from ..activation_table import STATE_NAMES
from ..distributed import MAX_WORKERS, STRATEGIES
from ..encoding import ENCODERS
from ..readouts import READOUTS, REDUCTIONS
from ..spec import CELLS, MODELS, OPTIMIZERS, SCHEDULES
from .options import check_outputs, count, data_option, dataset_option, int_list


@click.command()
@dataset_option(default="digits", help="Training data (digits works offline).")
@data_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR",
              help="Checkpoint folder to write (spec.json, model.weights.h5, metrics.json).")
@click.option("--model", type=click.Choice(MODELS), default="snu", show_default=True,
              help="SNU network or the same-size LSTM baseline.")
@click.option("--hidden", callback=int_list, metavar="N,N",
              help="Hidden dense SNU layer sizes [250,250]; the output layer has one unit per class.")
@click.option("--network", "network_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="A network as a JSON list of layers ({\"kind\": \"snu_conv2d\", \"filters\": 32, ...}; kinds: "
                   "snu, snu_conv2d, avg_pool2d, sum_pool2d, flatten, dropout), instead of --hidden; the output layer "
                   "is added unless the list ends with it. See docs/training.md.")
@click.option("--cell", type=click.Choice(list(CELLS)), default="snu", show_default=True,
              help="Spiking SNU (Heaviside) or soft sSNU (sigmoid).")
@click.option("--decay", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Membrane decay of the state s.")
@click.option("--g", "g", type=click.Choice(STATE_NAMES), default="leaky_relu", show_default=True,
              help="State nonlinearity g.")
@click.option("--recurrent", is_flag=True, help="Add a recurrent kernel H y_{t-1}.")
@click.option("--lateral-inhibition", is_flag=True,
              help="Reset by the most active unit (per sample). Trains poorly with the digits defaults: see "
                   "docs/training.md.")
@click.option("--encoding", "encoding_kind", type=click.Choice(list(ENCODERS)),
              help="How samples become input: rate or latency (images), delta, direct or spikes (sequences) "
                   "[rate for images, direct for sequences]. See docs/sequences.md.")
@click.option("--delta-factor", type=click.FloatRange(0, min_open=True), default=0.5, show_default=True,
              metavar="K", help="delta: each channel's threshold is K x its mean change per step (training split).")
@click.option("--readout", "readout_kind", type=click.Choice(READOUTS),
              help="mean_rate (MSE), spike_count or membrane (cross-entropy; a leaky-integrator output layer) "
                   "[mean_rate for images, membrane for sequences].")
@click.option("--reduce", type=click.Choice(REDUCTIONS), default="last", show_default=True,
              help="membrane: read the last membrane value or its maximum over time.")
@click.option("--timesteps", type=count("timesteps"), metavar="T",
              help="Time steps per image [dataset default]; sequences run for their own length.")
@click.option("--max-spikes", type=click.FloatRange(0), metavar="K",
              help="Expected spikes over T for a pixel of value 1 [dataset default].")
@click.option("--epochs", type=click.IntRange(1, 100_000), metavar="N", help="Training epochs [dataset default].")
@click.option("--batch-size", type=count("batch"), metavar="N",
              help="Batch size per replica [dataset default]; distributed, the global batch is N x replicas.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="Optimizer [dataset default].")
@click.option("--lr", type=click.FloatRange(0, min_open=True), metavar="LR", help="Learning rate [dataset default].")
@click.option("--lr-schedule", "schedule", type=click.Choice(SCHEDULES),
              help="constant, or cosine: decay the rate from --lr to 0 over the whole run [constant].")
@click.option("--limit", type=count("samples"), metavar="N", help="Train on the first N training samples only.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed for weights, shuffling and encoding.")
@click.option("--distribute", type=click.Choice(STRATEGIES),
              help="Train with tf.distribute under tf-keras: multi-worker reads the cluster from TF_CONFIG (run the "
                   "same command on every worker; the chief writes --out), mirrored uses this machine's devices. "
                   "See docs/distributed.md.")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), metavar="N",
              help="Start N local multi-worker processes on loopback ports (tries --distribute on one machine).")
@click.option("--backup-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="With --distribute or --workers: back the training state up after every epoch; the same command "
                   "run again resumes after the last finished epoch.")
@click.option("--quiet", is_flag=True, help="No per-epoch progress.")
def train(dataset, data, out, model, hidden, network_file, cell, decay, g, recurrent, lateral_inhibition,
          encoding_kind, delta_factor, readout_kind, reduce, timesteps, max_spikes, epochs, batch_size, optimizer, lr,
          schedule, limit, seed, distribute, workers, backup_dir, quiet):
    """Train a network and write a checkpoint with its metrics.

    Defaults are the neuroaikit seed recipe (SNU 250-250-C, T=20, 6 spikes, decay 0.9,
    leaky ReLU, MSE on the mean output rate, SGD 0.5, batch 15, 3 epochs); the digits
    dataset defaults to 15 spikes and Adam 3e-3 for 20 epochs (see docs/training.md). The
    batch is per replica: distributed over R replicas, a step takes R x 15 samples.
    Sequences (japanese-vowels, basic-motions, an .npz of [N, T, F]) default to the direct
    encoding, a membrane readout and Adam 3e-3 for 40 epochs, and train with masks when
    their lengths differ (docs/sequences.md).
    """
    from .. import datasets, distributed
    from .. import encoding as encoders
    from ..errors import ConfigurationError
    from ..extras import require
    from ..readouts import Readout
    from ..spec import ModelSpec

    distributing = bool(distribute or workers)
    if distributing:
        distributed.check(distribute, workers)
    elif backup_dir is not None:
        raise ConfigurationError("--backup-dir goes with --distribute or --workers.")
    require("train", "Training")
    from ..training import dataset_defaults, default_readout, keras_verbosity, train_checkpoint

    check_outputs((out, "folder"), (backup_dir, "folder"))
    layers = read_network(network_file) if network_file else None
    if layers is not None and hidden is not None:
        raise ConfigurationError("Give the network's layers with --network or dense layer sizes with --hidden, "
                                 "not both.")
    wants_sequences = encoding_kind is not None and encoders.ENCODERS[encoding_kind].SEQUENCES
    loaded = datasets.load_data(dataset, data, sequences=wants_sequences)
    if loaded.sequences and not datasets.is_sequences(dataset):
        dataset = None  # your own sequences: name them with --data in later commands
    encoding, recipe = dataset_defaults(dataset, loaded.sequences)
    if encoding_kind is None and loaded.sequences and loaded.x_train.dtype == "uint8":
        encoding_kind = "spikes"  # the data already are spikes
    if encoding_kind is not None and encoding_kind != encoding.kind:
        encoding = encoders.get(encoding_kind, encoding.timesteps)
    if encoding.SEQUENCES != loaded.sequences:
        raise ConfigurationError(f"The {encoding.kind} encoding takes {'sequences' if encoding.SEQUENCES else 'images'}"
                                 f"; this data holds {'sequences' if loaded.sequences else 'images'}.")
    given = _given(timesteps=timesteps, max_spikes=max_spikes) if not loaded.sequences else {}
    encoding = dataclasses.replace(encoding, **({"seed": seed} if hasattr(encoding, "seed") else {}), **given)
    readout = Readout(readout_kind, reduce if readout_kind == "membrane" else None) if readout_kind \
        else default_readout(loaded.sequences)
    recipe = dataclasses.replace(recipe, seed=seed, loss=readout.loss, **_given(
        epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, schedule=schedule, limit=limit))
    x_train, y_train, x_test, y_test = loaded.arrays
    if loaded.sequences:
        encoding = encoding.fit(x_train, loaded.lengths_train, factor=delta_factor)
        sample_shape = (encoding.channels(x_train.shape[2]),)
    else:
        sample_shape = x_train.shape[1:]
    fields = {"model": model, "dataset": dataset, "encoding": encoding, "recipe": recipe, "readout": readout}
    if layers is not None:
        spec = ModelSpec.network(layers, sample_shape, datasets.num_classes(y_train), **fields)
    else:
        spec = ModelSpec.dense(math.prod(sample_shape), datasets.num_classes(y_train), hidden=hidden or (250, 250),
                               cell=cell, decay=decay, g=g, recurrent=recurrent,
                               lateral_inhibition=lateral_inhibition, **fields)
    click.echo(f"Training {model.upper()} {spec.describe()} on {dataset or data} "
               f"({min(len(x_train), limit or len(x_train))} train / {len(x_test)} test), {encoding.kind} encoding, "
               f"{readout.label} readout, {recipe.epochs} epochs, {recipe.optimizer} lr={recipe.rate_label}, batch "
               f"{recipe.batch_size}{' per replica' if distributing else ''}.", err=True)
    verbose = 0 if quiet else keras_verbosity()
    if not distributing:
        metrics = train_checkpoint(spec, loaded, out, verbose=verbose)
    else:
        metrics = distributed.train(spec, out, distribute, workers, data, backup_dir, verbose=min(verbose, 2))
        if metrics is None:
            click.echo("This worker has finished; the chief writes the checkpoint.")
            return
        d = metrics["distribution"]
        click.echo(f"{d['strategy']}: {d['replicas']} replica{'s' if d['replicas'] > 1 else ''} x batch "
                   f"{d['batch_per_replica']} = global batch {d['global_batch']}")
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f}  loss {metrics['test_loss']:.5f}  "
               f"train {metrics['train_seconds']:.1f} s  eval {metrics['eval_seconds']:.2f} s")
    if metrics["mean_spikes_per_sample"]:
        click.echo("spikes/sample per layer: " + ", ".join(f"{v:.1f}" for v in metrics["mean_spikes_per_sample"]))
    click.echo(f"checkpoint: {out}")


def read_network(path: Path) -> list:
    """The layers of a network file: a JSON list of layer objects (or ``{"layers": [...]}``)."""
    import json

    from ..errors import ConfigurationError

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigurationError(f"Cannot read the network file {path}: {e}") from None
    layers = data.get("layers") if isinstance(data, dict) else data
    if not isinstance(layers, list):
        raise ConfigurationError(f"{path} must hold a JSON list of layers (or an object with \"layers\").")
    return layers


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}
