"""SNU checkpoint -> NIR graph (``snudeploy export --format nir``), validated before it is written.

Per layer ``i`` of the network (Keras weights; ``b`` the threshold)::

    snu         Affine  affine{i}   weight = Wᵀ (out, in), bias = 0
                LIF     lif{i}      tau = dt / (1 - decay), r = tau / dt, v_leak = 0, v_threshold = b, v_reset = 0
                IF      if{i}       (decay = 1) r = 1 / dt, v_threshold = b, v_reset = 0
    snu_conv2d  Conv2d  conv{i}     weight (F, C, kh, kw) from Keras' [kh, kw, C, F], stride, padding, bias = 0
                LIF/IF  lif{i}      as above, every parameter of shape (F, H', W') (b per filter)
    sum_pool2d  SumPool2d sumpool{i}  kernel_size = stride = pool_size, padding 0
    avg_pool2d  AvgPool2d avgpool{i}  the same
    flatten     Flatten flatten{i}  start_dim 0 of (C, H, W)

NIR is channels first, as PyTorch: the graph's ``Input`` is ``(C, H, W)`` for images
(snudeploy's and Keras' ``[H, W, C]`` moved, :func:`nir_shape`), and ``Flatten`` joins ``(C, H, W)``
in that order, where Keras joins ``(H, W, C)``: the ``Affine`` after it takes its weight columns
in NIR's order (the same products). NIR pads symmetrically; TensorFlow's ``same`` padding puts the
odd row (column) at the end. Such a convolution is written with one more row (column) of
padding at both ends and a kernel grown by a zero row (column) at its start, which reads that
extra row at the top: the same sums, exactly.

With NIR's forward-Euler discretisation at ``dt`` a LIF gives ``v_t = decay·v_{t-1} + I_t``:
the SNU's ``s_t = I_t + decay·s_{t-1}·(1 - y_{t-1})`` with g = identity. The SNU keeps ``s``
and multiplies it by ``1 - y`` one step later; the LIF sets ``v`` to 0 when it spikes. The
spikes are the same, and ``v = s·(1 - y)``. A recurrent dense layer (kernel ``H``) becomes a
subgraph ``lif{i}`` with ``Input -> LIF -> Output`` and the cycle ``LIF -> Linear(Hᵀ) -> LIF``,
as snnTorch exports its recurrent neurons. The graph's metadata records ``dt`` (seconds),
``discretisation: forward-euler`` and, for snudeploy's importer, the checkpoint's rate
encoding and dataset (so an imported graph runs ``snudeploy run`` like a direct export).

Not exact (:func:`inexact` says why, per layer): g = ReLU / leaky ReLU (a LIF integrates
linearly), sigmoid sSNU outputs (NIR neurons spike), lateral inhibition (a LIF resets on
its own spike). ``approximate=True`` exports the nearest graph anyway (g dropped, a spike
where ``sigmoid(s - b) > 0.5``, each neuron reset by its own spike) and measures how far it
is from the checkpoint.

Validation: the written file is read back with ``nir.read``, imported
(:mod:`.nir_import`), rolled on the runtime (images moved to channels first) and compared
with TensorFlow on encoded test data: output spikes at every step, predictions (argmax of
the mean output rate), and every layer's final membrane potential against ``s·(1 - y)``.
Exact graphs must reach the float gates (prediction agreement 1.0, spike agreement
>= 0.9999); approximate ones report.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from .. import __version__, arguments
from ..errors import ConfigurationError, ExportError, ValidationError
from ..extras import require
from ..files import Transaction, check_writable
from ..kinds import SNUKind
from .exporter import VALIDATION_FILE, ExportedFile, load_source, merged_validation
from .formats import FLOAT_GATES, Gates
from .nir_graph import read
from .nir_import import DISCRETISATION, import_graph

FORMAT = "nir"
FILE_NAME = "model.nir"
DEFAULT_DT = 1e-3
DESCRIPTION = "NIR graph (HDF5) for neuromorphic tools; exact for g = identity, else needs --approximate"
APPROXIMATE_GATES = Gates(prediction_agreement=0.0, spike_agreement=0.0)  # report only (NaN still fails)


def inexact(network) -> list[str]:
    """Why the layers of ``network`` do not map exactly onto NIR, and what the approximation does."""
    found = {}  # reason -> layer indices
    for i, layer in network.stateful():
        p, reasons = layer.spec, []
        if not isinstance(p, SNUKind):  # to_nir names the layers it does not take
            continue
        if p.g != "identity":
            reasons.append(f"g = {p.g}, but a NIR LIF integrates linearly (approximation: g dropped)")
        if p.activation != "step":
            reasons.append(f"soft sSNU outputs ({p.activation}), but NIR neurons emit binary spikes "
                           f"(approximation: a spike where {p.activation}(s - b) > 0.5)")
        if getattr(p, "lateral_inhibition", False):
            reasons.append("lateral inhibition (a spike resets the whole layer), but a NIR LIF resets on its own "
                           "spike only (approximation: per-neuron reset)")
        for reason in reasons:
            found.setdefault(reason, []).append(str(i))
    return [f"layer{'s' if len(ids) > 1 else ''} {', '.join(ids)}: {reason}" for reason, ids in found.items()]


def nir_shape(shape) -> tuple[int, ...]:
    """A per-step shape in NIR's layout: an image ``(H, W, C)`` channels first ``(C, H, W)``; others unchanged."""
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)


def channels_first(x: np.ndarray, lead: int) -> np.ndarray:
    """``x`` ``[*lead axes, *shape]`` in NIR's layout: an image ``[..., H, W, C]`` as ``[..., C, H, W]``."""
    return np.moveaxis(x, -1, lead) if x.ndim == lead + 3 else x


def to_nir(network, dt: float, metadata: dict | None = None):
    """The ``nir.NIRGraph`` of ``network`` at time step ``dt`` (seconds), channels first."""
    import nir

    other = sorted({layer.spec.kind for layer in network.layers} - set(_LAYERS))
    if other:
        raise ExportError(f"NIR export takes {', '.join(_LAYERS)} layers; this network has {', '.join(other)} layers.")
    if network.layers[-1].spec.kind != "snu":
        raise ExportError(f"NIR export needs the network to end in a dense SNU layer (its outputs are the classes); "
                          f"this one ends in a {network.layers[-1].spec.kind} layer.")
    nodes = {"input": nir.Input(np.array(nir_shape(network.input_shape)))}
    edges, previous, rows = [], "input", None
    for i, layer in enumerate(network.layers):
        chain, rows = _LAYERS[layer.spec.kind](nir, i, layer, dt, rows)
        for name, node in chain:
            nodes[name] = node
            edges.append((previous, name))
            previous = name
    nodes["output"] = nir.Output(np.array(network.output_shape))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": float(dt), "discretisation": DISCRETISATION,
                                                            **(metadata or {})})


def _dense(nir, i: int, layer, dt: float, rows):
    """``Affine`` + LIF (a subgraph with its ``Linear`` cycle when recurrent); ``rows``: the kernel's rows in the
    order NIR flattens the input (after a ``Flatten`` of an image)."""
    p, w = layer.spec, layer.weights
    kernel = w["kernel"] if rows is None else w["kernel"][rows]
    neuron = _neuron(p, w["threshold"], dt, (p.units,))
    name = f"{type(neuron).__name__.lower()}{i}"
    if p.recurrent:
        neuron = nir.NIRGraph(
            nodes={"input": nir.Input(np.array([p.units])), "lif": neuron,
                   "w_rec": nir.Linear(weight=np.ascontiguousarray(w["recurrent_kernel"].T)),
                   "output": nir.Output(np.array([p.units]))},
            edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    affine = nir.Affine(weight=np.ascontiguousarray(kernel.T), bias=np.zeros(p.units, np.float32))
    return [(f"affine{i}", affine), (name, neuron)], None


def _conv(nir, i: int, layer, dt: float, rows):
    """``Conv2d`` + LIF; TensorFlow's odd padding row (column) at the end as a zero kernel row (column) at the start."""
    p, w = layer.spec, layer.weights
    kernel = np.transpose(w["kernel"], (3, 2, 0, 1))  # Keras [kh, kw, C, F] -> NIR (F, C, kh, kw)
    top, left, bottom, right = p.pads(layer.input_shape)
    kernel = np.pad(kernel, ((0, 0), (0, 0), (bottom - top, 0), (right - left, 0)))
    conv = nir.Conv2d(input_shape=tuple(layer.input_shape[:2]), weight=np.ascontiguousarray(kernel, np.float32),
                      stride=tuple(p.strides), padding=(bottom, right), dilation=(1, 1), groups=1,
                      bias=np.zeros(p.filters, np.float32))
    conv.output_type = {"output": np.array(nir_shape(layer.output_shape))}  # nir sizes both axes by kh (see docs)
    neuron = _neuron(p, np.asarray(w["threshold"])[:, None, None], dt, nir_shape(layer.output_shape))
    return [(f"conv{i}", conv), (f"{type(neuron).__name__.lower()}{i}", neuron)], rows


def _pool(nir, i: int, layer, dt: float, rows):
    size = np.array(layer.spec.pool_size)
    kind = nir.AvgPool2d if layer.spec.AVERAGE else nir.SumPool2d
    return [(f"{kind.__name__[:-2].lower()}{i}", kind(kernel_size=size, stride=size, padding=np.zeros(2, int)))], rows


def _flatten(nir, i: int, layer, dt: float, rows):
    """``Flatten`` of NIR's ``(C, H, W)``; the next layer's rows follow that order (Keras flattens ``(H, W, C)``)."""
    shape = layer.input_shape
    if len(shape) == 3:
        rows = np.arange(math.prod(shape)).reshape(shape).transpose(2, 0, 1).reshape(-1)
    node = nir.Flatten(input_type={"input": np.array(nir_shape(shape))}, start_dim=0, end_dim=-1)
    return [(f"flatten{i}", node)], rows


_LAYERS = {"snu": _dense, "snu_conv2d": _conv, "sum_pool2d": _pool, "avg_pool2d": _pool, "flatten": _flatten}


def _neuron(p, threshold, dt: float, shape: tuple):
    """LIF (decay < 1) or IF (decay = 1) of ``shape`` whose forward-Euler step is ``v = decay·v + I``."""
    import nir

    threshold = np.ascontiguousarray(np.broadcast_to(np.asarray(threshold, np.float32), shape))
    zeros = np.zeros(shape, np.float64)
    if p.decay >= 1.0:
        return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=threshold, v_reset=zeros)
    tau = np.full(shape, dt / (1.0 - p.decay))
    return nir.LIF(tau=tau, r=tau / dt, v_leak=zeros, v_threshold=threshold, v_reset=zeros)


def export_nir(checkpoint, path, dt: float | None = None, approximate: bool = False, timesteps: int | None = None,
               dataset=None, samples: int = 256, force: bool = False) -> ExportedFile:
    """Export ``checkpoint`` to a NIR file after validating it against TensorFlow.

    Args:
        checkpoint: checkpoint folder (``spec.json`` + ``model.weights.h5``).
        path: a folder (receives ``model.nir`` and ``validation.json``) or a ``.nir`` file name.
        dt: the time step in seconds recorded in the graph (default 1 ms); any dt is exact.
        approximate: export layers that do not map exactly (see :func:`inexact`), reporting
            the measured agreement instead of gating on it.
        timesteps, dataset, samples, force: as for :func:`~snudeploy.converters.export`.

    Raises:
        ExportError: a layer does not map exactly and ``approximate`` is false; nothing written.
        ValidationError: an exact graph misses the float gates (and ``force`` is false).
    """
    require("nir", "Exporting to NIR")
    import nir

    dt = DEFAULT_DT if dt is None else arguments.number(dt, "dt", 0, min_open=True)
    target = _target(Path(path))
    check_writable(target.parent, "folder")
    source = load_source(checkpoint, timesteps, dataset, samples)
    reasons = inexact(source.network)
    if reasons and not approximate:
        raise ExportError(f"Checkpoint {checkpoint} does not map exactly onto NIR: {'; '.join(reasons)}. "
                          "Pass --approximate (approximate=True) to export the nearest NIR graph with its measured "
                          "agreement; nothing written.")
    recorded = {"producer": f"snudeploy {__version__}", "source": Path(checkpoint).resolve().name,
                "encoding": source.encoding.to_dict(), "dataset": source.trained_on,
                "approximations": "; ".join(reasons)}
    graph = to_nir(source.network, dt, {k: v for k, v in recorded.items() if v})
    ref = source.reference()
    gates = APPROXIMATE_GATES if reasons else FLOAT_GATES
    with Transaction(target.parent) as files:
        staged = files.path(target.name)
        nir.write(staged, graph)
        model = import_graph(read(staged), source=target.name)
        report = {"format": FORMAT, "dataset": source.dataset, "split": "test", "dt": dt, "exact": not reasons,
                  "approximations": reasons, **validate(model, ref, source.spikes, source.labels, gates)}
        if not report["passed"] and not force:
            raise ValidationError(f"The NIR graph does not match TensorFlow, nothing written "
                                  f"({', '.join(report['failures'])}). Use force=True (--force) to write it anyway.",
                                  report={f"{FORMAT}/{FORMAT}": report})
        files.write_text(VALIDATION_FILE, merged_validation(target.parent / VALIDATION_FILE, {target.name: report}))
        size = staged.stat().st_size
    from ..runtime import load_model

    info = load_model(model.SerializeToString()).info.replace(validation=report)
    inner = sum(len(node.nodes) for node in graph.nodes.values() if isinstance(node, nir.NIRGraph))
    return ExportedFile(path=target, format=FORMAT, graph=FORMAT, size_bytes=size, validation=report, info=info,
                        nodes={"graph": len(graph.nodes), "bodies": inner, "functions": 0})


def validate(model, ref, spikes: np.ndarray, labels: np.ndarray | None, gates: Gates) -> dict:
    """Compare the imported step graph of the NIR file with TensorFlow's :class:`~.validation.Reference` on
    ``spikes`` ``[N, T, *input shape]`` (snudeploy's layout; the NIR graph takes images channels first)."""
    from ..runtime import Engine, SessionSettings, rollout
    from .validation import BATCH, gate_failures

    report = {"graph": FORMAT, "gates": None if gates is APPROXIMATE_GATES else dataclasses.asdict(gates)}
    if not ref.finite():
        return {**report, "passed": False,
                "failures": ["TensorFlow's reference outputs hold NaN or Inf (check the weights)"]}
    engine = Engine(model.SerializeToString(), SessionSettings("cpu"))
    result = rollout(engine, channels_first(spikes, 2), BATCH)
    last = len(ref.states) - 1
    spikes_tf, spikes_nir = ref.spikes[max(ref.spikes)] > 0.5, result.spikes[last] > 0.5
    deltas = {}
    for i, states in enumerate(ref.states.values()):
        membrane = channels_first(np.where(states["y"] > 0.5, 0.0, states["s"]), 1)
        deltas[f"l{i}_v"] = float(np.max(np.abs(membrane - result.states[f"l{i}_v"]), initial=0.0))
    tf_pred, nir_pred = ref.rates.argmax(axis=1), result.rates.argmax(axis=1)
    report.update({
        "samples": int(len(spikes)), "timesteps": int(spikes.shape[1]), "provider": result.provider,
        "compared": "output spikes at every step, predictions, every layer's final membrane potential s·(1 - y)",
        "spike_agreement": float(np.mean(spikes_tf == spikes_nir)),
        "max_state_delta": max(deltas.values()), "max_state_delta_per_state": deltas,
        "max_rate_delta": float(np.max(np.abs(ref.rates - result.rates), initial=0.0)),
        "prediction_agreement": float(np.mean(tf_pred == nir_pred)),
        "mean_output_spikes_per_sample": float(spikes_nir.sum() / len(spikes)),
    })
    if labels is not None:
        report["tf_accuracy"] = float(np.mean(tf_pred == labels))
        report["nir_accuracy"] = float(np.mean(nir_pred == labels))
    failures = gate_failures(report, gates)
    return {**report, "passed": not failures, "failures": failures}


def _target(path: Path) -> Path:
    """``path`` itself when it names a ``.nir`` file, else ``path/model.nir``."""
    if path.suffix == ".nir":
        if path.is_dir():
            raise ConfigurationError(f"{path} is a folder; give a file name or a folder without the .nir suffix.")
        return path
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"{path} exists and is not a folder.")
    return path / FILE_NAME
