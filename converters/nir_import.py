"""NIR graph -> snudeploy ONNX step graph: one time step at ``dt``, every state explicit.

Neurons are discretised with forward Euler at ``dt`` (seconds; given, or the graph's
metadata ``dt``); ``I`` is the sum of the neuron's inputs of this step::

    LIF      v' = v + dt/τ (v_leak - v + r I)       z = v' > v_threshold    v = v_reset if z else v'
    IF       v' = v + dt r I                         z, v as LIF
    LI       v' = v + dt/τ (v_leak - v + r I)       output v'
    I        v' = v + dt r I                         output v'
    CubaLIF  i' = i + dt/τ_syn (w_in I - i)   v' = v + dt/τ_mem (v_leak - v + r i')   z, v as LIF
    CubaLI   i', v' as CubaLIF                        output v'

The synaptic current is updated first, so an input reaches ``v`` in the same step (as in
snnTorch's ``Synaptic``). Each update is emitted as ``a·v + c·I + d`` with ``a, c, d``
computed once in float64 and stored as float32; a term that is exactly 0 (or a factor that
is exactly 1) emits no node. ``Affine`` is ``W x + b``, ``Linear`` ``W x``, ``Scale`` ``s ⊙ x``,
``Threshold`` ``x > θ`` (a spike). ``Conv2d`` is ONNX ``Conv`` (stride, dilation, groups,
zero padding); ``SumPool2d`` a ``Conv`` of each channel with a kernel of ones (sums of spikes
are exact), ``AvgPool2d`` that sum divided by the window's size (padding counts, as PyTorch's
default); ``Flatten`` and inputs of another shape are ``Reshape`` (C order).

The graph follows snudeploy's naming contract (:mod:`snudeploy.metadata`): input ``x``
``[B, *shape]`` with the ``Input`` node's shape as NIR declares it (channels first: ``[B, C, H, W]``
for images), output ``spikes`` ``[B, C]`` (what the ``Output`` node carries, spikes or
potentials, flattened), and per neuron layer ``l{i}`` one state pair per state variable of the
neuron's shape: ``l{i}_v`` -> ``l{i}_v_next`` (and ``l{i}_i`` for Cuba neurons). An edge that
closes a cycle (see :mod:`.nir_graph`) is the state ``l{i}_feedback``: its source's output of
the previous step, on the layer of the first neuron evaluated at or after its target. Layers are
the neurons in evaluation order, the one that feeds ``Output`` last (its output shape is the
graph's output, flattened); when ``Output`` carries something else (an ``Affine`` readout, say),
a stateless last layer ``output`` describes it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import __version__, arguments, digest
from ..encoding import Encoding
from ..errors import ConfigurationError, ModelFileError
from ..files import Transaction, check_writable
from ..metadata import Layer, ModelInfo, State, build as build_metadata
from ..runtime import load_model
from . import checks
from .formats import DEFAULT_OPSET
from .nir_graph import PASS_THROUGH, Plan, plan as make_plan, read
from .step import snudeploy_model

FORMAT = "nir"
FILE_NAME = "step.onnx"
DISCRETISATION = "forward-euler"
log = logging.getLogger("snudeploy.nir")


def _leaky(tau, gain, leak, dt):
    return 1.0 - dt / tau, dt * gain / tau, dt * leak / tau


def _plain(gain, dt):
    return np.ones_like(gain), dt * gain, np.zeros_like(gain)


@dataclass(frozen=True)
class Neuron:
    """A NIR neuron type: its state variables, whether it spikes, and ``(a, c, d)`` per state."""
    states: tuple[str, ...]
    spiking: bool
    coefficients: Callable[[dict, float], list]


_SYNAPSE = lambda p, dt: _leaky(p["tau_syn"], p["w_in"], 0.0, dt)  # noqa: E731
_MEMBRANE = lambda p, dt: _leaky(p["tau_mem"], p["r"], p["v_leak"], dt)  # noqa: E731
NEURONS = {
    "LIF": Neuron(("v",), True, lambda p, dt: [_leaky(p["tau"], p["r"], p["v_leak"], dt)]),
    "LI": Neuron(("v",), False, lambda p, dt: [_leaky(p["tau"], p["r"], p["v_leak"], dt)]),
    "IF": Neuron(("v",), True, lambda p, dt: [_plain(p["r"], dt)]),
    "I": Neuron(("v",), False, lambda p, dt: [_plain(p["r"], dt)]),
    "CubaLIF": Neuron(("i", "v"), True, lambda p, dt: [_SYNAPSE(p, dt), _MEMBRANE(p, dt)]),
    "CubaLI": Neuron(("i", "v"), False, lambda p, dt: [_SYNAPSE(p, dt), _MEMBRANE(p, dt)]),
}
FEEDBACK = "feedback"


@dataclass(frozen=True)
class ImportedModel:
    """What :func:`import_nir` wrote."""
    path: Path
    info: ModelInfo
    nodes: int      # ONNX nodes
    size_bytes: int

    def layer_shape(self, layer: int) -> tuple[int, ...]:
        """Layer ``layer``'s neurons as NIR shapes them (their state's shape; the output shape if stateless)."""
        state = next((s for s in self.info.states if s.layer == layer and not s.kind.startswith(FEEDBACK)), None)
        return state.shape if state is not None else self.info.layers[layer].output_shape

    def summary(self) -> dict:
        source, info = self.info.source or {}, self.info
        layers = [{"layer": i, "node": layer.fields.get("node"), "cell": layer.kind, "units": layer.units,
                   "shape": list(self.layer_shape(i)), "states": [s.kind for s in info.states if s.layer == i]}
                  for i, layer in enumerate(info.layers)]
        return {"file": str(self.path), "dt": source.get("dt"), "input_shape": list(info.input.shape),
                "features": info.features, "classes": info.classes, "nodes": self.nodes,
                "size_kb": round(self.size_bytes / 1024, 1), "layers": layers}


def import_nir(path, out, dt: float | None = None, opset: int = DEFAULT_OPSET) -> ImportedModel:
    """Read NIR file ``path`` and write its step graph as ``out/step.onnx`` (nothing on failure).

    Raises:
        ModelFileError: the file is not a NIR graph snudeploy can run (named in the message).
        ConfigurationError: no ``dt`` (neither given nor in the graph's metadata), or a bad one.
        OutputError: ``out`` cannot be written.
    """
    check_writable(out, "folder")
    path = Path(path)
    model = import_graph(read(path), dt, source=path.name, opset=opset)
    data = model.SerializeToString()
    with Transaction(out) as files:
        target = files.write_bytes(FILE_NAME, data)
    return ImportedModel(target, load_model(data).info, len(model.graph.node), len(data))


def import_graph(graph, dt: float | None = None, source: str = "graph", opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """The checked step graph, with its snudeploy metadata, of ``graph`` (a ``nir.NIRGraph``)."""
    plan = make_plan(graph)
    dt = resolve_dt(dt, plan.metadata, source)
    layers, states, slots = _layout(plan)
    emitter = _Emitter(plan, dt, slots)
    model = emitter.model(states, opset)
    checks.check_onnx(model, "step")
    info = build_metadata(FORMAT, "step", layers, plan.input_shape, opset, states=tuple(states),
                          encoding=_encoding(plan.metadata, source), dataset=_text(plan.metadata.get("dataset")),
                          producer=_producer(),
                          source={"nir": source, "dt": dt, "discretisation": DISCRETISATION,
                                  "nir_nodes": len(plan.nodes)})
    model.producer_name, model.producer_version = "snudeploy", __version__
    digest.attach(model, info.to_json())
    checks.check_loads(model, "step")
    return model


def resolve_dt(dt, metadata: dict, source: str) -> float:
    """The time step: ``dt`` when given, else the graph's metadata ``dt``."""
    convention = metadata.get("discretisation")
    if convention is not None and str(convention) != DISCRETISATION:
        raise ConfigurationError(f"{source} records discretisation {convention!r}; snudeploy imports NIR graphs "
                                 f"with {DISCRETISATION} only.")
    if dt is not None:
        dt = arguments.number(dt, "dt", 0, min_open=True)
        if "dt" in metadata:
            log.info("Using dt = %g s (the graph records dt = %s).", dt, metadata["dt"])
        return dt
    if "dt" not in metadata:
        raise ConfigurationError(f"{source} records no time step (metadata 'dt'); give one: --dt SECONDS.")
    recorded = metadata["dt"]
    try:
        return arguments.number(np.asarray(recorded).item() if np.size(recorded) == 1 else recorded, "dt", 0,
                                min_open=True)
    except (ConfigurationError, TypeError, ValueError):
        raise ModelFileError(f"{source} records dt = {metadata['dt']!r}; expected a positive number of "
                             "seconds (override it with --dt SECONDS).") from None


def _encoding(metadata: dict, source: str) -> Encoding | None:
    """The rate encoding a graph records (snudeploy's exports do), so ``run`` and ``bench accuracy`` can encode."""
    recorded = metadata.get("encoding")
    if recorded is None:
        return None
    try:
        return Encoding.from_dict({str(k): _text(v) if isinstance(v, (str, bytes)) else np.asarray(v).item()
                                   for k, v in dict(recorded).items()})
    except (ConfigurationError, TypeError, ValueError) as e:
        raise ModelFileError(f"{source} records an invalid encoding in its metadata: {e}") from None


def _text(value) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None if value is None else str(value)


def _layout(plan: Plan):
    """(metadata layers, states, {("state", node, kind) or ("feedback", source, target): (input, output) names})."""
    neurons = [name for name, node in plan.nodes.items() if node.type in NEURONS]
    if not neurons:
        raise ModelFileError("The NIR graph has no neuron node (LIF, CubaLIF, LI, CubaLI, IF or I): it has no state "
                             "to stream.")
    carried = _carried(plan)
    layers_of = [n for n in neurons if n != carried] + ([carried] if carried in neurons else [])
    last = len(layers_of) - 1 if carried in neurons else None
    layers = [Layer(plan.nodes[n].type.lower(), (plan.classes,) if i == last else plan.nodes[n].shape,
                    {"units": plan.nodes[n].width, "node": n}) for i, n in enumerate(layers_of)]
    if carried not in neurons:
        layers.append(Layer("output", (plan.classes,), {"units": plan.classes, "node": carried}))
    states, slots = [], {}

    def add(layer: int, kind: str, shape: tuple, key) -> None:
        names = (f"l{layer}_{kind}", f"l{layer}_{kind}_next")
        states.append(State(layer, kind, *names, tuple(shape)))
        slots[key] = names

    for i, name in enumerate(layers_of):
        for kind in NEURONS[plan.nodes[name].type].states:
            add(i, kind, plan.nodes[name].shape, ("state", name, kind))
    order = list(plan.nodes)
    for source, target in plan.feedback:
        after = [n for n in order[order.index(target):] if n in neurons]
        layer = layers_of.index(after[0]) if after else len(layers) - 1
        count = sum(1 for s in states if s.layer == layer and s.kind.startswith(FEEDBACK))
        add(layer, FEEDBACK + (str(count) if count else ""), plan.nodes[source].shape, ("feedback", source, target))
    return layers, states, slots


def _carried(plan: Plan) -> str:
    """The node whose output the Output node carries (through pass-through nodes)."""
    name = plan.output
    while plan.nodes[name].type in ("Output", *PASS_THROUGH) and len(plan.nodes[name].inputs) == 1 \
            and not plan.delayed(plan.nodes[name].inputs[0], name):
        name = plan.nodes[name].inputs[0]
    return name


class _Emitter:
    """Builds the ONNX step graph of a :class:`Plan`: nodes, initializers, unique names.

    Every NIR node's output is one tensor ``[B, *node.shape]`` (:attr:`outputs`)."""

    def __init__(self, plan: Plan, dt: float, slots: dict):
        self.plan, self.dt, self.slots = plan, dt, slots
        self.nodes, self.initializers, self.count = [], [], 0
        self.outputs = {}  # NIR node -> its output tensor

    def model(self, states: list[State], opset: int) -> onnx.ModelProto:
        plan = self.plan
        for name, node in plan.nodes.items():
            inputs = [self.shaped(self.slots[("feedback", s, name)][0] if plan.delayed(s, name) else self.outputs[s],
                                  plan.nodes[s].shape, node.takes, name) for s in node.inputs]
            self.outputs[name] = self.node(node, inputs)
        for source, target in plan.feedback:
            state_out = self.slots[("feedback", source, target)][1]
            self.op("Identity", [self.outputs[source]], f"{source}/feedback", state_out)
        output = plan.nodes[plan.output]
        if len(output.shape) == 1:
            self.op("Identity", [self.outputs[plan.output]], "spikes", "spikes")
        else:
            self.op("Reshape", [self.outputs[plan.output], self.shape_constant("spikes/shape", (-1,))], "spikes",
                    "spikes")
        batch = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape])  # noqa
        inputs = [batch("x", plan.input_shape)] + [batch(s.input, s.shape) for s in states]
        outputs = [batch("spikes", (plan.classes,))] + [batch(s.output, s.shape) for s in states]
        return snudeploy_model(self.nodes, "nir_step", inputs, outputs, self.initializers, opset)

    def node(self, node, inputs: list[str]) -> str:
        """Emit NIR node ``node`` on ``inputs`` (edge order, each of ``node.takes``); return its output tensor."""
        p, name, kind = node.params, node.name, node.type
        if kind == "Input":
            return "x"
        if kind in NEURONS:
            return self.neuron(node, inputs)
        total = self.sum(inputs, name)
        if kind in ("Affine", "Linear"):
            product = self.op("MatMul", [total, self.constant(f"{name}/weight", p["weight"].T)], name)
            bias = p.get("bias")
            return product if bias is None or not bias.any() else self.op(
                "Add", [product, self.constant(f"{name}/bias", self.widen(bias, node.shape))], name)
        if kind == "Scale":
            return self.scaled(total, self.widen(p["scale"], node.shape), name)
        if kind == "Threshold":
            spike = self.op("Greater", [total, self.constant(f"{name}/threshold", self.widen(p["threshold"],
                                                                                              node.shape))], name)
            return self.op("Cast", [spike], name, to=TensorProto.FLOAT)
        if kind == "Conv2d":
            bias = [self.constant(f"{name}/bias", p["bias"])] if p["bias"].any() else []
            return self.conv(total, self.constant(f"{name}/weight", p["weight"]), bias, node.window, name)
        if kind in ("SumPool2d", "AvgPool2d"):
            window, channels = node.window, node.takes[0]
            ones = self.constant(f"{name}/ones", np.ones((channels, 1, *window.kernel)))
            summed = self.conv(total, ones, [], dataclasses.replace(window, groups=channels), name)
            return summed if kind == "SumPool2d" else self.op(
                "Div", [summed, self.constant(f"{name}/size", np.array(math.prod(window.kernel)))], name)
        return self.shaped(total, node.takes, node.shape, name)  # Output and pass-through nodes

    def conv(self, x: str, weight: str, bias: list[str], window, hint: str) -> str:
        return self.op("Conv", [x, weight, *bias], hint, strides=list(window.stride), pads=list(window.pads),
                       dilations=list(window.dilation), group=window.groups)

    def shaped(self, tensor: str, shape: tuple, wanted: tuple, hint: str) -> str:
        """``tensor`` ``[B, *shape]`` as ``[B, *wanted]`` (the same values, C order)."""
        if tuple(shape) == tuple(wanted):
            return tensor
        return self.op("Reshape", [tensor, self.shape_constant(f"{hint}/shape", wanted)], hint)

    def neuron(self, node, inputs: list[str]) -> str:
        """Each state ``a·v + c·I + d`` in turn (the previous state's value is the next one's I); spike, reset."""
        spec, name = NEURONS[node.type], node.name
        coefficients = spec.coefficients(node.params, self.dt)
        value = None
        for k, (kind, (a, c, d)) in enumerate(zip(spec.states, coefficients)):
            state_in, state_out = self.slots[("state", name, kind)]
            last = k == len(spec.states) - 1
            value = self.integrate(state_in, inputs, *(self.widen(t, node.shape) for t in (a, c, d)),
                                   f"{name}/{kind}", None if last and spec.spiking else state_out)
            inputs = [value]
        if not spec.spiking:
            return value
        threshold = self.constant(f"{name}/v_threshold", self.widen(node.params["v_threshold"], node.shape))
        spike = self.op("Greater", [value, threshold], name)
        reset = self.constant(f"{name}/v_reset", self.widen(node.params["v_reset"], node.shape))
        self.op("Where", [spike, reset, value], name, state_out)
        return self.op("Cast", [spike], name, to=TensorProto.FLOAT)

    def integrate(self, state: str, inputs: list[str], a, c, d, hint: str, output: str | None) -> str:
        """``c·I_1 + a·v + c·I_2 + ... + d``: the decayed state added after the first input (as an SNU adds it)."""
        terms = []
        for k, current in enumerate(inputs):
            terms.append(self.scaled(current, c, hint))
            if k == 0 and a.any():
                terms.append(self.scaled(state, a, hint))
        if d.any():
            terms.append(self.constant(f"{hint}/leak", d))
        return self.sum(terms, hint, output)

    def scaled(self, tensor: str, factor: np.ndarray, hint: str) -> str:
        if (factor == 1).all():
            return tensor
        return self.op("Mul", [tensor, self.constant(f"{hint}/factor", factor)], hint)

    def sum(self, terms: list[str], hint: str, output: str | None = None) -> str:
        """``terms`` added left to right (one term: itself, or an Identity to name it ``output``)."""
        if len(terms) == 1:
            return terms[0] if output is None else self.op("Identity", terms, hint, output)
        total = terms[0]
        for k, term in enumerate(terms[1:], 1):
            total = self.op("Add", [total, term], hint, output if k == len(terms) - 1 else None)
        return total

    def widen(self, values: np.ndarray, shape: tuple) -> np.ndarray:
        """``values`` as float32 of ``shape`` (scalars broadcast), rounded once from float64."""
        return np.ascontiguousarray(np.broadcast_to(np.asarray(values, np.float64), tuple(shape)), np.float32)

    def constant(self, hint: str, values: np.ndarray) -> str:
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(values, np.float32), name))
        return name

    def shape_constant(self, hint: str, shape: tuple) -> str:
        """A ``Reshape`` target ``[0, *shape]`` (0 keeps the batch axis)."""
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.array([0, *shape], np.int64), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, output: str | None = None, **attributes) -> str:
        output = output or self.unique(f"{hint}/{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.unique(f"{hint}/{op_type}"),
                                           **attributes))
        return output

    def unique(self, hint: str) -> str:
        self.count += 1
        return f"{hint}:{self.count}"


def _producer() -> dict:
    import nir
    import onnxruntime

    return {"snudeploy": __version__, "nir": getattr(nir, "__version__", "unknown"), "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}

