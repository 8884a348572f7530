"""Distributed training with TensorFlow's own engine (``tf.distribute``), under tf-keras.

Keras 3 cannot train with ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585); tf-keras
can. So, as QAT does, the work runs in a child Python process under tf-keras
(:mod:`snudeploy.tfkeras_child`, ``python -m snudeploy.distributed``), on the same layer code:

* ``multi-worker``: ``MultiWorkerMirroredStrategy``, the cluster read from ``TF_CONFIG``
  (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``);
  every worker runs the same command. ``mirrored``: ``MirroredStrategy`` over this machine's
  devices.
* The model is built and compiled inside ``strategy.scope()``; each worker's input
  pipeline reads its replicas' shares of every global batch (``recipe.batch_size`` per
  replica, so the global batch is that times the replicas; see
  :func:`snudeploy.training.batches`). Every worker encodes the data with the same seed.
* ``backup_dir``: ``BackupAndRestore`` backs the training state up after every epoch, and a
  run restarted with the same command resumes after the last finished epoch (logged).
* The chief (task ``chief``, else worker 0) alone evaluates and writes the checkpoint and
  ``metrics.json`` (strategy, replicas, batches), all at once when training has finished:
  a run that dies leaves no partial checkpoint. Every worker logs a digest of its final
  weights, so that their equality can be checked.

``workers=N`` (``snudeploy train --workers N``) starts N local workers on loopback ports with
their ``TF_CONFIG``, for trying it on one machine; when one dies, the others are stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from . import arguments, tfkeras_child
from .errors import ConfigurationError, MissingExtraError, SnudeployError
from .extras import installed
from .spec import METRICS_FILE, ModelSpec

log = logging.getLogger("snudeploy.train")

STRATEGIES = ("mirrored", "multi-worker")
TASK_TYPES = ("chief", "worker")
MAX_WORKERS = 64
MODULE = "snudeploy.distributed"


@dataclass(frozen=True)
class Task:
    """This process's place in the cluster that ``TF_CONFIG`` describes."""
    type: str
    index: int
    tasks: int        # tasks in the cluster, of either type
    has_chief: bool   # the cluster has a chief task (else worker 0 is the chief)

    @property
    def chief(self) -> bool:
        return self.type == "chief" or (not self.has_chief and self.index == 0)

    @property
    def name(self) -> str:
        return f"{self.type} {self.index}"


def task_from(tf_config: str | None) -> Task:
    """Check ``TF_CONFIG`` (the JSON text) for multi-worker training; raise one clear error."""
    if not tf_config:
        raise ConfigurationError("--distribute multi-worker reads the cluster from TF_CONFIG, which is not set "
                                 "(--workers N starts N local workers instead).")
    try:
        config = json.loads(tf_config)
    except json.JSONDecodeError as e:
        raise ConfigurationError(f"TF_CONFIG is not valid JSON ({e.msg} at character {e.pos}).") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(cluster.get("worker", []), list) or not cluster:
        raise ConfigurationError('TF_CONFIG needs "cluster": {"worker": ["host:port", ...]}.')
    unknown = sorted(set(cluster) - set(TASK_TYPES))
    if unknown:
        raise ConfigurationError(f"TF_CONFIG's cluster has {', '.join(unknown)} tasks; multi-worker training "
                                 f"has {' and '.join(TASK_TYPES)} tasks only.")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(_is_address(a) for a in addresses):
            raise ConfigurationError(f'TF_CONFIG\'s cluster "{kind}" must be a list of "host:port" addresses, '
                                     f"got {addresses!r}.")
    if len(cluster.get("chief", [])) > 1:
        raise ConfigurationError("TF_CONFIG's cluster may have one chief.")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ConfigurationError(f'TF_CONFIG needs "task": {{"type": one of {", ".join(cluster)}, "index": i}}, '
                                 f"got {task!r}.")
    index, size = task.get("index"), len(cluster[task["type"]])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise ConfigurationError(f"TF_CONFIG's task index {index!r} is out of range: the cluster has {size} "
                                 f"{task['type']} task{'s' if size > 1 else ''} (index 0 to {size - 1}).")
    total = sum(len(a) for a in cluster.values())
    if total > MAX_WORKERS:
        raise ConfigurationError(f"TF_CONFIG's cluster has {total} tasks; snudeploy trains on up to {MAX_WORKERS}.")
    return Task(task["type"], index, total, "chief" in cluster)


def _is_address(address) -> bool:
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def local_configs(workers: int) -> list[dict]:
    """``TF_CONFIG`` of each of ``workers`` local workers, on free loopback ports."""
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return [{"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}} for i in range(workers)]


def check(strategy: str | None, workers: int | None) -> Task | None:
    """Check the options of a distributed run before any work; return this process's task (None: not multi-worker).

    ``strategy`` defaults to ``multi-worker``; ``workers`` asks for that many local workers.
    """
    if not installed("tf_keras"):
        raise MissingExtraError("--distribute and --workers need tf-keras (Keras 3 cannot train with "
                                "MultiWorkerMirroredStrategy, keras-team/keras#20585): pip install tf-keras.")
    arguments.choice(strategy or "multi-worker", "distribute", STRATEGIES)
    if workers is None:
        return task_from(os.environ.get("TF_CONFIG")) if strategy != "mirrored" else None
    arguments.integer(workers, "workers", 1, MAX_WORKERS)
    if strategy == "mirrored":
        raise ConfigurationError("--workers starts multi-worker training; it cannot go with --distribute mirrored.")
    if os.environ.get("TF_CONFIG"):
        raise ConfigurationError("--workers starts its own local cluster: unset TF_CONFIG (or drop --workers "
                                 "to join the cluster TF_CONFIG describes).")
    return Task("worker", 0, workers, False)


def train(spec: ModelSpec, out, strategy: str | None = None, workers: int | None = None, data=None,
          backup_dir=None, verbose: int = 2) -> dict | None:
    """Train ``spec`` with ``tf.distribute`` in tf-keras child processes; return the chief's metrics.

    Returns None on a worker that is not the chief (the chief writes the checkpoint).
    """
    task = check(strategy, workers)
    strategy = strategy or "multi-worker"
    args = ["--spec", json.dumps(spec.to_dict()), "--out", str(out), "--strategy", strategy, "--verbose", str(verbose)]
    args += [*(["--data", str(data)] if data else []), *(["--backup-dir", str(backup_dir)] if backup_dir else [])]
    commands = [tfkeras_child.Command(MODULE, args)]
    if workers is not None:
        commands = [tfkeras_child.Command(MODULE, args, tfkeras_child.environment({"TF_CONFIG": json.dumps(config)}),
                                          f"worker {i}") for i, config in enumerate(local_configs(workers))]
    try:
        tfkeras_child.run_all(commands, "Distributed training", on_start=lambda command, process: log.info(
            "%s: started (pid %d)", command.name, process.pid) if workers else None)
    except SnudeployError as e:
        if backup_dir is None or type(e) is not SnudeployError:  # a typed error is not cured by a rerun
            raise
        raise SnudeployError(f"{e} The same command resumes after the last finished epoch.") from None
    return json.loads((Path(out) / METRICS_FILE).read_text()) if task is None or task.chief else None


def weights_digest(weights) -> str:
    """A short SHA-256 of the weight arrays: equal digests, equal weights."""
    digest = hashlib.sha256()
    for array in weights:
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def _main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--spec", required=True, help="the ModelSpec as JSON")
    parser.add_argument("--out", required=True)
    parser.add_argument("--strategy", choices=STRATEGIES, required=True)
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--data")
    parser.add_argument("--backup-dir")
    _run(parser.parse_args(argv))


def _run(args) -> None:
    import tensorflow as tf

    from . import datasets
    from .checkpoint import legacy_keras, save_checkpoint
    from .training import Training

    if not legacy_keras():
        raise ConfigurationError("Distributed training needs tf-keras: set TF_USE_LEGACY_KERAS=1 before TensorFlow "
                                 "is imported.")
    spec = ModelSpec.from_dict(json.loads(args.spec))
    task = task_from(os.environ.get("TF_CONFIG")) if args.strategy == "multi-worker" else None
    _log_as(task.name if task else "chief")
    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if task else tf.distribute.MirroredStrategy())
    chief = task is None or task.chief
    training = Training(spec, datasets.load(spec.dataset, args.data), verbose=args.verbose if chief else 0,
                        strategy=strategy)
    callbacks = _backup_callbacks(args.backup_dir) if args.backup_dir else ()
    training.fit(spec.recipe.epochs, callbacks)
    log.info("final weights sha256 %s", weights_digest(training.model.get_weights()))
    if not chief:
        return
    model, metrics = training.finish()
    replicas = strategy.num_replicas_in_sync
    metrics["distribution"] = {
        "strategy": args.strategy, "replicas": replicas, "workers": task.tasks if task else 1,
        "batch_per_replica": spec.recipe.batch_size, "global_batch": spec.recipe.batch_size * replicas,
        "steps_per_epoch": training.steps,
        "resumed_after_epoch": callbacks[1].resumed_after if callbacks else None,
        "weights_sha256": weights_digest(model.get_weights())}
    save_checkpoint(model, spec.replace(metrics={k: v for k, v in metrics.items()
                                                 if k not in ("history", "epoch_seconds")}), args.out, metrics)
    log.info("checkpoint written to %s", args.out)


def _backup_callbacks(backup_dir: str) -> tuple:
    """``BackupAndRestore`` into ``backup_dir``, and a callback that logs (and keeps) the epoch it resumed after."""
    import tensorflow as tf

    class ResumeLog(tf.keras.callbacks.Callback):
        resumed_after = None
        started = False

        def on_epoch_begin(self, epoch, logs=None):
            if epoch and not self.started:
                self.resumed_after = epoch
                log.info("resumed from the backup in %s after epoch %d", backup_dir, epoch)
            self.started = True

    return tf.keras.callbacks.BackupAndRestore(backup_dir), ResumeLog()


def _log_as(name: str) -> None:
    """Log this process's ``snudeploy`` lines to stdout (the parent's stderr), prefixed with ``name``."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(f"[{name}] %(message)s"))
    logger = logging.getLogger("snudeploy")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


if __name__ == "__main__":
    sys.exit(tfkeras_child.main(_main))
