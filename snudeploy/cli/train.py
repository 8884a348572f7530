"""`snudeploy train`: train the seed SNU network (or the LSTM baseline) on a dataset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ..activation_table import STATE_NAMES
from ..spec import CELLS, MODELS, OPTIMIZERS
from .options import check_outputs, count, data_option, dataset_option, int_list


@click.command()
@dataset_option(default="digits", help="Training data (digits works offline).")
@data_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR",
              help="Checkpoint folder to write (spec.json, model.weights.h5, metrics.json).")
@click.option("--model", type=click.Choice(MODELS), default="snu", show_default=True,
              help="SNU network or the same-size LSTM baseline.")
@click.option("--hidden", callback=int_list, default="250,250", show_default=True, metavar="N,N",
              help="Hidden layer sizes; the output layer has one unit per class.")
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
@click.option("--timesteps", type=count("timesteps"), metavar="T", help="Time steps per sample [dataset default].")
@click.option("--max-spikes", type=click.FloatRange(0), metavar="K",
              help="Expected spikes over T for a pixel of value 1 [dataset default].")
@click.option("--epochs", type=click.IntRange(1, 100_000), metavar="N", help="Training epochs [dataset default].")
@click.option("--batch-size", type=count("batch"), metavar="N", help="Batch size [dataset default].")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="Optimizer [dataset default].")
@click.option("--lr", type=click.FloatRange(0, min_open=True), metavar="LR", help="Learning rate [dataset default].")
@click.option("--limit", type=count("samples"), metavar="N", help="Train on the first N training samples only.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed for weights, shuffling and encoding.")
@click.option("--quiet", is_flag=True, help="No per-epoch progress.")
def train(dataset, data, out, model, hidden, cell, decay, g, recurrent, lateral_inhibition, timesteps,
          max_spikes, epochs, batch_size, optimizer, lr, limit, seed, quiet):
    """Train a network and write a checkpoint with its metrics.

    Defaults are the neuroaikit seed recipe (SNU 250-250-C, T=20, 6 spikes, decay 0.9,
    leaky ReLU, MSE on the mean output rate, SGD 0.5, batch 15, 3 epochs); the digits
    dataset defaults to 15 spikes and Adam 3e-3 for 20 epochs (see docs/training.md).
    """
    from .. import datasets
    from ..extras import require
    from ..spec import ModelSpec

    require("train", "Training")
    from ..training import dataset_defaults, keras_verbosity, train_checkpoint

    check_outputs((out, "folder"))
    encoding, recipe = dataset_defaults(dataset)
    encoding = dataclasses.replace(encoding, seed=seed, **_given(timesteps=timesteps, max_spikes=max_spikes))
    recipe = dataclasses.replace(recipe, seed=seed, **_given(epochs=epochs, batch_size=batch_size,
                                                             optimizer=optimizer, lr=lr, limit=limit))
    x_train, y_train, x_test, y_test = datasets.load(dataset, data)
    spec = ModelSpec(input_features=int(x_train[0].size), classes=datasets.num_classes(y_train), hidden=hidden,
                     model=model, cell=cell, decay=decay, g=g, recurrent=recurrent,
                     lateral_inhibition=lateral_inhibition, dataset=dataset, encoding=encoding, recipe=recipe)
    click.echo(f"Training {model.upper()} {'-'.join(map(str, spec.units))} on {dataset} "
               f"({min(len(x_train), limit or len(x_train))} train / {len(x_test)} test), "
               f"{recipe.epochs} epochs, {recipe.optimizer} lr={recipe.lr}, batch {recipe.batch_size}.", err=True)
    metrics = train_checkpoint(spec, (x_train, y_train, x_test, y_test), out, verbose=0 if quiet else keras_verbosity())
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f}  loss {metrics['test_loss']:.5f}  "
               f"train {metrics['train_seconds']:.1f} s  eval {metrics['eval_seconds']:.2f} s")
    if metrics["mean_spikes_per_sample"]:
        click.echo("spikes/sample per layer: " + ", ".join(f"{v:.1f}" for v in metrics["mean_spikes_per_sample"]))
    click.echo(f"checkpoint: {out}")


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}
