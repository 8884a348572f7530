"""Terminal tables of benchmark records, as Markdown pipe tables (readable, and pasteable into docs)."""

from __future__ import annotations

from pathlib import Path

from ..runtime.providers import SHORT_NAMES
from ..table import render


def provider_label(provider: str) -> str:
    """``ort-cpu``/``ort-cuda`` for ONNX Runtime providers, the name itself otherwise (TensorFlow rows)."""
    return f"ort-{SHORT_NAMES[provider]}" if provider in SHORT_NAMES else provider


def short_labels(paths) -> list[str]:
    """Short names for rows: the file name, or parent/name where file names repeat."""
    names = [Path(p).name for p in paths]
    return [f"{Path(p).parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names)]


def latency(records: list[dict]) -> str:
    """Rows grouped by mode, T, threads and batch (run order within), one line each.

    ``x TF`` is the speed-up over the TensorFlow SNU row of the same group (TF p50 / row p50); ``/ steps`` what a
    chunk of K costs against its baseline row (``K steps``: K single steps of the same model timed as one);
    ``max/min`` flags noisy rows with ``!``.
    """
    order = {"step": 0, "steps": 1, "chunk": 1, "sequence": 2}
    rows = sorted(records, key=lambda r: (order[r["mode"]], r["timesteps"], r["threads"], r["batch"]))
    header = ["model", "provider", "mode", "batch", "threads", "p50 µs", "p90 µs", "p99 µs", "mean µs",
              "stream-steps/s", "x TF", "/ floor", "/ steps", "load ms", "max/min"]
    modes = {"step": lambda r: "step", "chunk": lambda r: f"chunk K={r['timesteps']}",
             "steps": lambda r: f"{r['timesteps']} steps", "sequence": lambda r: f"seq T={r['timesteps']}"}
    body = [[r["label"], provider_label(r["provider"]), modes[r["mode"]](r), str(r["batch"]), str(r["threads"]),
             _us(r["p50_us"]), _us(r["p90_us"]), _us(r["p99_us"]), _us(r["mean_us"]), f"{r['throughput']:,.0f}",
             "-" if r["ratio_to_tf"] is None else f"{r['ratio_to_tf']:.2f}",
             "-" if r.get("over_floor") is None else f"{r['over_floor']:.2f}",
             "-" if r.get("over_steps") is None else f"{r['over_steps']:.2f}",
             "-" if r.get("load_ms") is None else f"{r['load_ms']:.1f}",
             f"{r['max_us'] / r['min_us']:.1f}{' !' if r['noisy'] else ''}" if r["min_us"] > 0 else "-"]
            for r in rows]
    return render(header, body, "lllrrrrrrrrrrrr")


def accuracy(records: list[dict]) -> str:
    """One line per model: accuracy, agreement with Keras, spikes per layer, SynOps, anytime accuracy."""
    steps = sorted({t for r in records for t in _anytime_steps(r["timesteps"])})
    header = ["model", "format", "graph", "quant", "accuracy", "agree TF", "spikes/sample by layer",
              "SynOps/sample", "dense MACs", "SynOps/MAC"] + [f"acc t={t}" for t in steps]
    body = []
    for r in records:
        spikes = " / ".join("-" if s is None else f"{s:.4g}" for s in r["spikes_per_sample"])
        curve = r["anytime_accuracy"]
        body.append([r["label"], r["format"], r["graph"], r["quantization"], f"{r['accuracy']:.4f}",
                     "-" if r["agreement_with_tf"] is None else f"{r['agreement_with_tf']:.4f}", spikes,
                     _big(r["synops_per_sample"]), _big(r["dense_macs_per_sample"]),
                     "-" if r["synops_per_mac"] is None else f"{r['synops_per_mac']:.3f}"]
                    + [f"{curve[t - 1]:.4f}" if t <= len(curve) else "-" for t in steps])
    return render(header, body)


def serve(records: list[dict]) -> str:
    """One line per way of serving the same load: Triton beside in-process ``StreamingSession`` calls, per chunk
    size; then, for the Triton rows, where a request's time went (see ``schema.SERVE``)."""
    header = ["model", "server", "strategy", "instances", "batch", "chunk", "sequences x steps", "calls", "p50 µs",
              "p99 µs", "stream-steps/s", "errors", "capped"]
    body = [[r["label"], r["server"], r["strategy"], str(r["instances"]), str(r["batch"]), str(r["chunk"]),
             f"{r['sequences']} x {r['steps']}", str(r["samples"]), _us(r["p50_us"]), _us(r["p99_us"]),
             f"{r['throughput']:,.0f}", str(r["errors"]), "yes" if r["capped"] else "no"] for r in records]
    triton = [r for r in records if r["server"] == "triton"]
    if not triton:
        return render(header, body, "lllrrrrrrrrrl")
    account = ["chunk", "requests/s", "req/exec", "mean µs", "queue µs", "backend µs", "execute µs", "model µs",
               "CPU µs/req: client", "server", "stub", "cores"]
    rows = [[str(r["chunk"]), f"{r['samples'] / r['seconds']:,.0f}" if r["seconds"] else "-",
             _optional(r["requests_per_execution"], lambda v: f"{v:.1f}"), _us(r["mean_us"]),
             *(_optional(r[k], _us) for k in ("queue_us", "backend_us", "execute_us", "model_us", "client_cpu_us",
                                               "server_cpu_us", "stub_cpu_us")),
             _optional(r["cores"], lambda v: f"{v:.2f}")] for r in triton]
    return (render(header, body, "lllrrrrrrrrrl") + "\nTriton: where a request's time went (per request)\n"
            + render(account, rows, "rrrrrrrrrrrr"))


def _optional(value, form) -> str:
    return "-" if value is None else form(value)


def train(records: list[dict]) -> str:
    """One line per network: size, recipe, seconds per epoch, throughput, accuracy, epoch time over the SNU's."""
    header = ["network", "units", "weights", "batch", "epochs", "s/epoch", "samples/s", "test acc", "time / SNU"]
    body = [[r["label"] + (" !" if r["noisy"] else ""), "-".join(map(str, r["units"])), f"{r['parameters']:,}",
             str(r["batch"]), str(r["epochs"]), f"{r['seconds_per_epoch']:.1f}", f"{r['samples_per_second']:,.0f}",
             f"{r['test_accuracy']:.4f}", f"{r['ratio_to_snu']:.2f}"] for r in records]
    return render(header, body, "llrrrrrrr")


def profile(records: list[dict]) -> str:
    """One line per part of the bare call (empty call, each matrix product, the other nodes), then the call."""
    header = ["part", "nodes", "µs per call", "share"]
    body = [[r["part"], str(r["nodes"]), f"{r['us_per_call']:.2f}", f"{100 * r['share']:.1f} %"] for r in records]
    return render(header, body, "lrrr")


def _anytime_steps(timesteps: int) -> list[int]:
    return sorted({max(1, timesteps // 4), max(1, timesteps // 2), timesteps})


def _us(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _big(value) -> str:
    if value is None:
        return "-"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"
