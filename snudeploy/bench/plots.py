"""PNG plots of benchmark results (matplotlib, Agg backend, imported only when plotting).

* ``latency_vs_batch.png`` - median call latency against batch, one line per model,
  provider and thread count; one panel per mode (step, chunk of K, sequence of T);
* ``accuracy_vs_timesteps.png`` - the anytime curve of every model;
* ``spike_raster.png`` - one test sample through a step graph: input and every layer;
* ``train_epochs.png`` - seconds of every training epoch of each network (``bench train``).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import ConfigurationError
from ..files import write_bytes
from .tables import provider_label

DPI = 90


def latency(records: list[dict], folder) -> Path:
    """Write ``latency_vs_batch.png`` into ``folder``; return its path."""
    plt = _pyplot()
    panels = sorted({(r["mode"], r["timesteps"]) for r in records}, key=lambda m: (m[0] != "step", m[1]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, (mode, timesteps) in zip(axes[0], panels):
        lines = {}
        for r in records:
            if (r["mode"], r["timesteps"]) == (mode, timesteps):
                name = f"{r['label']} [{provider_label(r['provider'])}, {r['threads']}t]"
                lines.setdefault(name, []).append((r["batch"], r["p50_us"]))
        for name, points in lines.items():
            batches, p50 = zip(*sorted(points))
            ax.plot(batches, p50, marker="o", linewidth=1.2, markersize=3.5, label=name)
        ax.set(xscale="log", yscale="log", xlabel="batch (streams)", ylabel="median latency per call (µs)",
               title={"step": "one step", "chunk": f"chunk of K={timesteps} steps",
                      "steps": f"{timesteps} single steps"}.get(mode, f"whole sequence, T={timesteps}"))
        ax.set_xticks(sorted({r["batch"] for r in records}))
        _plain_log_labels(ax)
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=6.5)
    return _save(plt, fig, folder, "latency_vs_batch.png")


def anytime(records: list[dict], folder) -> Path:
    """Write ``accuracy_vs_timesteps.png``: accuracy of the running output rate after t steps."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for r in records:
        curve = r["anytime_accuracy"]
        ax.plot(range(1, len(curve) + 1), curve, marker=".", linewidth=1.2, label=r["label"])
    ax.set(xlabel="time steps seen (t)", ylabel="test accuracy", title=f"Anytime accuracy ({records[0]['dataset']})")
    _integer_ticks(ax)
    ax.grid(True, linewidth=0.3)
    ax.legend(fontsize=7)
    return _save(plt, fig, folder, "accuracy_vs_timesteps.png")


def raster(sample: dict, folder) -> Path:
    """Write ``spike_raster.png`` of one sample: input spikes and each layer's, unit against time."""
    plt = _pyplot()
    panels = [("input", sample["input"])] + [(f"layer {i}", y) for i, y in enumerate(sample["layers"])]
    fig, axes = plt.subplots(len(panels), 1, figsize=(5.2, 1.3 * len(panels) + 0.6), sharex=True)
    for ax, (name, spikes) in zip(axes, panels):
        ax.imshow(spikes.T, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0, vmax=1,
                  extent=(0.5, spikes.shape[0] + 0.5, spikes.shape[1] - 0.5, -0.5))
        ax.set_ylabel(f"{name}\nunit", fontsize=8)
        ax.set_title(f"{name}: {spikes.sum():.0f} spikes", fontsize=8, loc="left")
    axes[-1].set_xlabel("time step")
    _integer_ticks(axes[-1])
    fig.suptitle(f"Spike raster of one test sample ({sample['label']})", fontsize=9)
    return _save(plt, fig, folder, "spike_raster.png")


def epochs(records: list[dict], folder) -> Path:
    """Write ``train_epochs.png``: seconds of each epoch, one group of bars per epoch, one bar per network."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    width = 0.8 / len(records)
    for i, r in enumerate(records):
        ax.bar([e + 1 + (i - (len(records) - 1) / 2) * width for e in range(r["epochs"])], r["epoch_seconds"],
               width=width, label=f"{r['label']} ({r['seconds_per_epoch']:.1f} s/epoch)")
    ax.set(xlabel="epoch", ylabel="seconds", title=f"Training time per epoch ({records[0]['dataset']})")
    _integer_ticks(ax)
    ax.grid(True, axis="y", linewidth=0.3)
    ax.legend(fontsize=7)
    return _save(plt, fig, folder, "train_epochs.png")


def _integer_ticks(ax) -> None:
    from matplotlib import ticker

    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))


def _plain_log_labels(ax) -> None:
    """Plain-number tick labels (the batches on x; 1, 2, 5 x 10^k on y) instead of 10^k mathtext."""
    from matplotlib import ticker

    def label(value, _):
        if value <= 0:
            return ""
        lead = value / 10 ** math.floor(math.log10(value))
        return f"{value:g}" if round(lead, 6) in (1, 2, 5) else ""

    ax.yaxis.set_major_formatter(ticker.FuncFormatter(label))
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(label))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ConfigurationError("--plot needs matplotlib: pip install '.[train]' (in a clone) or "
                                 "'snudeploy[train]'.") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, folder, name: str) -> Path:
    import io

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return write_bytes(Path(folder) / name, buffer.getvalue())
