"""``bench train``: seconds per epoch of the SNU and of the same-size LSTM, trained with one recipe in one run.

Both networks take the dataset's defaults (on Fashion-MNIST the seed recipe: 784-250-250-10,
T=20, 6 spikes, SGD 0.5, batch 15, MSE on the mean rate), the same encoded spikes and the
same batches in the same order, and train through :class:`snudeploy.training.Training`,
the code path of ``snudeploy train``, with its compile settings
(:func:`snudeploy.training.fit_settings`; each row records them). Their epochs alternate
(SNU 1, LSTM 1, SNU 2, ...), so that load from other processes on a shared machine falls
on both alike.

A network's ``seconds_per_epoch`` is the median of its epochs; the first epoch includes
tracing and XLA compilation. ``ratio_to_snu`` divides it by the SNU's: the LSTM row's is the
LSTM/SNU epoch-time ratio. Test accuracy is measured as ``snudeploy train`` measures it.

Use :func:`plan` (checks every input and loads the data, fails fast) then :func:`run`.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from .. import arguments, datasets
from ..spec import MODELS, ModelSpec
from . import environment, schema

NOISY = 1.5  # max / min epoch time (first epoch excluded) above which a row is flagged


@dataclass(frozen=True)
class TrainPlan:
    """A checked run: the dataset's arrays and one spec per network, SNU first."""
    dataset: str
    data: tuple
    specs: tuple

    def settings(self) -> dict:
        spec = self.specs[0]
        return {"dataset": self.dataset, "epochs": spec.recipe.epochs, "limit": spec.recipe.limit,
                "seed": spec.recipe.seed, "hidden": spec.units[:-1], "encoding": dataclasses.asdict(spec.encoding),
                "recipe": dataclasses.asdict(spec.recipe), "order": "epochs alternate between the networks"}


def plan(dataset: str = "fashion-mnist", data=None, epochs: int | None = None, limit: int | None = None) -> TrainPlan:
    """Check the options and load the data; raise a :class:`SnudeployError` on bad input."""
    from ..training import dataset_defaults

    epochs = arguments.optional_integer(epochs, "epochs", 1, 100_000)
    limit = arguments.optional_integer(limit, "limit", 1, arguments.LIMITS["samples"])
    encoding, recipe = dataset_defaults(dataset)
    recipe = dataclasses.replace(recipe, limit=limit, epochs=epochs or recipe.epochs)
    arrays = datasets.load(dataset, data)
    x_train, y_train = arrays[0], arrays[1]
    specs = tuple(ModelSpec.dense(int(x_train[0].size), datasets.num_classes(y_train), model=model, dataset=dataset,
                                  encoding=encoding, recipe=recipe) for model in MODELS)
    return TrainPlan(dataset, arrays, specs)


def run(plan: TrainPlan, on_epoch: Callable[[], None] | None = None) -> dict:
    """Train every network of ``plan``, epochs alternating; return the bench JSON document."""
    from ..checkpoint import keras_version
    from ..training import Training

    runs = [Training(spec, plan.data) for spec in plan.specs]
    for _ in range(plan.specs[0].recipe.epochs):
        for training in runs:
            training.fit(1)
            if on_epoch:
                on_epoch()
    results = [(training, training.finish()[1]) for training in runs]
    snu_seconds = statistics.median(runs[0].epoch_seconds)
    records = [_record(training, metrics, snu_seconds) for training, metrics in results]
    settings = {**plan.settings(), "keras": keras_version()}
    return {"schema_version": schema.SCHEMA_VERSION, "kind": "train", "settings": settings,
            "environment": environment.describe(tf_threads=_tf_threads()), "records": records,
            "warnings": [f"{r['label']}: epochs took {min(r['epoch_seconds'][1:]):.1f} to "
                         f"{max(r['epoch_seconds'][1:]):.1f} s; the machine was busy" for r in records if r["noisy"]]}


def _record(training, metrics: dict, snu_seconds: float) -> dict:
    spec, epochs = training.spec, training.epoch_seconds
    seconds = statistics.median(epochs)
    later = epochs[1:]
    return {
        "label": spec.model.upper(), "network": spec.model, "units": spec.units, "parameters": spec.parameters,
        "dataset": spec.dataset, "train_samples": metrics["train_samples"], "test_samples": metrics["test_samples"],
        "timesteps": spec.encoding.timesteps, "batch": spec.recipe.batch_size, "optimizer": spec.recipe.optimizer,
        "lr": spec.recipe.lr, "framework": "tensorflow", "xla": training.settings["jit_compile"],
        "steps_per_execution": training.settings["steps_per_execution"], "epochs": len(epochs),
        "epoch_seconds": epochs, "seconds_per_epoch": seconds,
        "samples_per_second": round(metrics["train_samples"] / seconds, 1),
        "test_accuracy": metrics["test_accuracy"], "ratio_to_snu": round(seconds / snu_seconds, 3),
        "noisy": len(later) > 1 and max(later) > NOISY * min(later),
    }


def _tf_threads() -> dict:
    import tensorflow as tf

    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
