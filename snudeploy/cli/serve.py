"""`snudeploy serve triton`: write Triton model repositories for a model, optionally serve them."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from ..serve.config import MAX_CHUNK, MAX_INSTANCES, PROVIDERS, STRATEGIES
from .options import count, model_argument


@click.group()
def serve():
    """Serve models on an inference server (Triton Inference Server's sequence batcher)."""


@serve.command()
@model_argument
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR",
              help="Folder for the repositories: DIR/python (Python backend) and DIR/onnxruntime (ONNX Runtime "
                   "backend with implicit state); each is a Triton --model-repository.")
@click.option("--name", default="snu", show_default=True, metavar="NAME", help="The model's name in Triton.")
@click.option("--instances", type=click.IntRange(1, MAX_INSTANCES), default=1, show_default=True, metavar="K",
              help="Model instances per server (each its own process and session; a sequence stays on one).")
@click.option("--max-batch", type=count("batch"), default=64, show_default=True, metavar="B",
              help="Requests of different sequences stepped in one execution; with --strategy direct also the "
                   "sequences each instance holds at once (more wait until one ends or is evicted).")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="direct", show_default=True,
              help="direct: one batch slot per sequence; oldest: batches of the oldest pending requests of "
                   "--max-sequences candidate sequences.")
@click.option("--max-sequences", type=count("streams"), metavar="S",
              help="--strategy oldest: sequences each instance holds at once [--max-batch].")
@click.option("--idle-ms", type=click.IntRange(1, 24 * 3600 * 1000), default=5000, show_default=True, metavar="MS",
              help="Evict a sequence after MS milliseconds without a request; a later request without START "
                   "is refused.")
@click.option("--threads", type=count("threads"), default=1, show_default=True, metavar="N",
              help="ONNX Runtime intra-op threads per instance.")
@click.option("--provider", type=click.Choice(PROVIDERS), default="cpu", show_default=True,
              help="Run instances on CPUs or GPUs (cuda: KIND_GPU instances; the Python backend needs "
                   "onnxruntime-gpu in the serving environment).")
@click.option("--max-chunk", type=count("timesteps"), default=MAX_CHUNK, show_default=True, metavar="K",
              help="The most time steps one request may carry (Python backend; longer chunks are refused).")
@click.option("--start", is_flag=True,
              help="Also start Triton (the [serve] extra's nvidia-pytriton wheel) on DIR/python; Ctrl-C stops it.")
@click.option("--host", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="--start: address to listen on (0.0.0.0: every interface).")
@click.option("--grpc-port", type=click.IntRange(0, 65535), default=8001, show_default=True, metavar="PORT",
              help="--start: gRPC port (0: any free port).")
@click.option("--http-port", type=click.IntRange(0, 65535), default=8000, show_default=True, metavar="PORT",
              help="--start: HTTP port (0: any free port).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=8002, show_default=True, metavar="PORT",
              help="--start: Prometheus metrics port (0: any free port).")
@click.option("--stop-after", type=click.FloatRange(0, min_open=True), metavar="S",
              help="--start: stop the server after S seconds [run until Ctrl-C].")
def triton(model, repo, name, instances, max_batch, strategy, max_sequences, idle_ms, threads, provider, max_chunk,
           start, host, grpc_port, http_port, metrics_port, stop_after):
    """Write Triton model repositories serving MODEL.onnx (a step or sequence graph) with the sequence batcher.

    Clients send a chunk of K consecutive time steps of one sequence per request (input x
    [1, K, F] FP32, output spikes [1, K, C]; K from 1 to --max-chunk) with a sequence id and
    START on a sequence's first request, END on its last. DIR/python runs snudeploy.runtime in
    Triton's Python backend (the serving environment needs snudeploy); DIR/onnxruntime keeps
    the state inside Triton (full Triton only). See docs/serving.md.
    """
    from ..serve import repository
    from ..serve.config import ServeSettings
    from ..serve.server import TritonServer, check_platform, free_ports
    from .options import check_outputs

    settings = ServeSettings(name=name, instances=instances, max_batch=max_batch, strategy=strategy,
                             idle_ms=idle_ms, max_sequences=max_sequences, threads=threads, provider=provider,
                             max_chunk=max_chunk)
    check_outputs((repo, "folder"))
    if start:
        from ..extras import require

        check_platform()
        require("serve", "--start")
        free_ports(host, {"grpc": grpc_port, "http": http_port, "metrics": metrics_port})  # fail before writing
    written = repository.write(model, repo, settings)
    click.echo(f"Wrote Triton model {name!r} ({settings.instances} instance(s), {settings.strategy} strategy, "
               f"{settings.sequences_per_instance} sequences per instance, up to {max_chunk} steps per request, "
               f"idle eviction {idle_ms} ms):")
    for backend in repository.BACKENDS:
        click.echo(f"  {written.path(backend)}  ({backend} backend)")
    if not start:
        return
    server = TritonServer(written.path("python"), host, grpc_port, http_port, metrics_port)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill`, docker stop: stop the server as Ctrl-C does
    try:
        endpoints = server.start()
        click.echo(f"Triton {server.version} serves {name!r}: {endpoints.describe()}")
        click.echo("Ctrl-C stops it." if stop_after is None else f"Stopping after {stop_after:g} s.")
        server.wait(stop_after)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    click.echo("Triton stopped.")


def _interrupt(signum, frame):
    raise KeyboardInterrupt
