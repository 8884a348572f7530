"""The ``snudeploy`` metadata every exported ONNX file carries, as typed, checked data.

``metadata_props["snudeploy"]`` holds one JSON object; the runtime needs nothing else to
serve the model. :func:`parse` reads and checks it once, into frozen dataclasses; nobody
reads the JSON by key. Tensors are looked up by the names recorded here, never by position.
``metadata_props["snudeploy.sha256"]`` seals the file (:mod:`snudeploy.digest`).

Naming contract (checked on every load):

* input ``x``: ``[B, *shape]`` per step (``shape`` e.g. ``[784]`` or ``[28, 28, 1]``, channels
  last), ``[B, T, *shape]`` in sequence graphs, float32;
* the states of layer ``i``: inputs ``l{i}_{kind}`` (``y``, ``s`` for SNU layers) paired with
  outputs ``l{i}_{kind}_next``, ``[B, *state shape]`` (sequence graphs take initial states
  too, so they can continue a stream); ``i`` indexes :attr:`ModelInfo.layers`;
* output ``spikes``: the output layer's ``y`` ``[B, C]`` (step) or ``[B, T, C]`` (sequence);
* output ``rates``: mean output rate over the sequence ``[B, C]`` (sequence graphs only).

What the graph also determines is checked against it when a model loads
(:func:`snudeploy.runtime.load_model`); what is checked here is that the metadata agrees with
itself: names follow the contract, every layer of a known kind has the output shape its
kind computes from the layer before, and its states have that shape.

Schema history: 1 (first release); 2 adds ``layers[].cell``, ``input.binary`` and free state
kinds; 3 makes shapes N-D (``input.shape``, ``layers[].kind`` and ``output_shape``, full state
shapes with ``dtype``), ``readout`` an object, and adds the digest. Files of schema 1 and 2
read as schema 3 with the defaults.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from . import arguments, kinds
from .encoding import Encoder
from .errors import ConfigurationError, ModelFileError
from .readouts import Readout

METADATA_KEY = "snudeploy"
SCHEMA_VERSION = 3
INPUT_NAME = "x"
SPIKES_NAME = "spikes"
RATES_NAME = "rates"
GRAPHS = ("step", "sequence")
DTYPES = ("float32",)
MAX_METADATA_BYTES = 1 << 22


def state_names(layer: int, kinds=("y", "s")) -> list[tuple[str, str, str]]:
    """[(kind, input name, output name)] of layer ``layer``'s states (the naming contract)."""
    return [(kind, f"l{layer}_{kind}", f"l{layer}_{kind}_next") for kind in kinds]


@dataclass(frozen=True)
class Layer:
    """One layer: its kind, its output shape per step, and the kind's fields (informative:
    the runtime computes with the graph, never with these)."""
    kind: str
    output_shape: tuple[int, ...]
    fields: dict = field(default_factory=dict)

    @property
    def units(self) -> int:
        """Values the layer outputs per step (neurons of an SNU layer)."""
        return math.prod(self.output_shape)

    @property
    def recurrent(self) -> bool:
        return bool(self.fields.get("recurrent", False))

    @property
    def spec(self) -> "kinds.LayerSpec | None":
        """The layer as its registered kind, or None (LSTM baselines, NIR neurons)."""
        if self.kind not in kinds.KINDS:
            return None
        return kinds.parse({"kind": self.kind, **self.fields})

    def to_dict(self) -> dict:
        return {"kind": self.kind, **self.fields, "output_shape": list(self.output_shape)}


def layer_of(spec: "kinds.LayerSpec", output_shape) -> Layer:
    """The metadata entry of layer ``spec`` whose output per step is ``output_shape``."""
    fields = spec.to_dict()
    del fields["kind"]
    return Layer(spec.kind, tuple(output_shape), fields)


@dataclass(frozen=True)
class State:
    """One state tensor of layer ``layer``: fed as ``input``, returned as ``output``, ``[B, *shape]``."""
    layer: int
    kind: str
    input: str
    output: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def units(self) -> int:
        return math.prod(self.shape)

    def to_dict(self) -> dict:
        return {"layer": self.layer, "kind": self.kind, "input": self.input, "output": self.output,
                "shape": [None, *self.shape], "dtype": self.dtype}


@dataclass(frozen=True)
class Input:
    name: str = INPUT_NAME
    shape: tuple[int, ...] = (1,)
    dtype: str = "float32"
    binary: bool = False  # the graph is only correct for whole-number inputs 0..255 (int8 graphs on spikes)

    @property
    def features(self) -> int:
        return math.prod(self.shape)

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "features": self.features, "dtype": self.dtype,
                "binary": self.binary}


@dataclass(frozen=True)
class Outputs:
    spikes: str = SPIKES_NAME
    rates: str | None = None


@dataclass(frozen=True)
class Quantization:
    """How the weights are stored: ``method`` none, ptq or qat, and what the method recorded."""
    method: str = "none"
    details: dict = field(default_factory=dict)

    @property
    def ort_disabled_optimizers(self) -> tuple[str, ...]:
        return tuple(self.details.get("ort_disabled_optimizers", ()))

    @property
    def int8(self) -> bool:
        """The graph computes with integer products (``arithmetic: integer``; a QAT checkpoint's float
        export has ``bits: 8`` weights on the int8 grid, but float arithmetic)."""
        return self.details.get("arithmetic") == "integer"

    def to_dict(self) -> dict:
        return {"method": self.method, **self.details}


@dataclass(frozen=True)
class ModelInfo:
    """Everything the metadata says about one ONNX file."""
    format: str
    graph: str
    opset: int
    input: Input
    layers: tuple[Layer, ...]
    states: tuple[State, ...]
    outputs: Outputs
    timesteps: int | None = None
    encoding: Encoder | None = None
    dataset: str | None = None
    readout: Readout = field(default_factory=Readout)
    quantization: Quantization = field(default_factory=Quantization)
    producer: dict = field(default_factory=dict)
    validation: dict | None = None
    source: dict | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def features(self) -> int:
        return self.input.features

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].output_shape

    @property
    def classes(self) -> int:
        return self.layers[-1].units

    @property
    def units(self) -> list[int]:
        return [layer.units for layer in self.layers]

    @property
    def sequence(self) -> bool:
        return self.graph == "sequence"

    def spike_state(self, layer: int) -> State | None:
        """The state that holds layer ``layer``'s output spikes (kind ``y``), if it has one."""
        return next((s for s in self.states if s.layer == layer and s.kind == "y"), None)

    def replace(self, **changes) -> "ModelInfo":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "format": self.format,
            "graph": self.graph,
            "opset": self.opset,
            "input": self.input.to_dict(),
            "timesteps": self.timesteps,
            "layers": [layer.to_dict() for layer in self.layers],
            "states": [s.to_dict() for s in self.states],
            "outputs": {k: v for k, v in dataclasses.asdict(self.outputs).items() if v is not None},
            "encoding": self.encoding.to_dict() if self.encoding else None,
            "dataset": self.dataset,
            "readout": self.readout.to_dict(),
            "quantization": self.quantization.to_dict(),
            "producer": self.producer,
            "validation": self.validation,
            "source": self.source,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=_jsonable)


def network_states(layers: list[Layer] | tuple[Layer, ...]) -> tuple[State, ...]:
    """The state pairs of ``layers`` by the naming contract (every registered stateful kind's)."""
    states = []
    for i, layer in enumerate(layers):
        spec = layer.spec
        for kind, name_in, name_out in state_names(i, spec.STATES if spec is not None else ("y", "s")):
            states.append(State(i, kind, name_in, name_out, tuple(layer.output_shape)))
    return tuple(states)


def build(format: str, graph: str, layers: list[Layer], input_shape, opset: int, *,
          states: tuple[State, ...] | None = None, timesteps: int | None = None, encoding: Encoder | None = None,
          dataset: str | None = None, readout: Readout | str = "mean_rate", quantization: Quantization | None = None,
          binary_input: bool = False, producer: dict | None = None, validation: dict | None = None,
          source: dict | None = None) -> ModelInfo:
    """The metadata of one exported graph, with the contract's tensor names."""
    layers = tuple(layers)
    input_shape = (int(input_shape),) if isinstance(input_shape, int) else tuple(int(d) for d in input_shape)
    info = ModelInfo(
        format=format, graph=graph, opset=opset,
        input=Input(INPUT_NAME, input_shape, "float32", binary_input), layers=layers,
        states=states if states is not None else network_states(layers),
        outputs=Outputs(SPIKES_NAME, RATES_NAME if graph == "sequence" else None),
        timesteps=timesteps, encoding=encoding, dataset=dataset, readout=Readout.from_dict(readout),
        quantization=quantization or Quantization(), producer=producer or {}, validation=validation, source=source)
    return _checked(info, "metadata")


def dumps(info: ModelInfo) -> str:
    return info.to_json()


def parse(text, source: str = "model") -> ModelInfo:
    """Parse and check the metadata JSON; :class:`ModelFileError` says what is wrong.

    Checks types, sizes (:data:`snudeploy.arguments.LIMITS`), the naming contract, and that
    layers, their shapes and their states agree; the graph itself is checked against this by
    the runtime.
    """
    if not text:
        raise ModelFileError(f"{source} is not a snudeploy model: it has no '{METADATA_KEY}' metadata.")
    if isinstance(text, (bytes, bytearray)):  # protobuf hands over invalid UTF-8 as bytes
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError(f"{source} has corrupt snudeploy metadata: it is not valid UTF-8.") from None
    if len(text) > MAX_METADATA_BYTES:
        raise ModelFileError(f"{source} has snudeploy metadata of {len(text)} bytes; at most "
                             f"{MAX_METADATA_BYTES} are read.")
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError, UnicodeError) as e:
        raise ModelFileError(f"{source} has corrupt snudeploy metadata: {e}") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{source} has corrupt snudeploy metadata: not a JSON object.")
    version = raw.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{source} has snudeploy metadata without a valid schema version.")
    if version > SCHEMA_VERSION:
        raise ModelFileError(f"{source} was written with metadata schema {version}; this snudeploy "
                             f"reads up to {SCHEMA_VERSION}. Upgrade snudeploy.")
    missing = [k for k in ("format", "graph", "input", "layers", "states") if k not in raw]
    if missing:
        raise ModelFileError(f"{source} has incomplete snudeploy metadata (missing {', '.join(missing)}).")
    try:
        info = _from_raw(raw, version)
    except (ConfigurationError, TypeError, ValueError, KeyError, AttributeError) as e:
        raise ModelFileError(f"{source} has invalid snudeploy metadata: {_describe(e)}") from None
    return _checked(info, source)


def _from_raw(raw: dict, version: int) -> ModelInfo:
    inp = _object(raw["input"], "input")
    if version >= 3:
        input_shape = _shape(inp.get("shape"), "input.shape", "features")
        if "features" in inp and inp["features"] != math.prod(input_shape):
            raise ConfigurationError(f"`input.features` is {inp['features']!r} but `input.shape` "
                                     f"{list(input_shape)} holds {math.prod(input_shape)}")
    else:
        input_shape = (arguments.limited(inp.get("features"), "input.features", "features"),)
    layers = tuple(_layer(entry, version) for entry in _list(raw["layers"], "layers"))
    if not layers:
        raise ConfigurationError("it lists no layers")
    states = tuple(_state(entry, layers, version) for entry in _list(raw["states"], "states"))
    outputs = _object(raw.get("outputs", {"spikes": SPIKES_NAME}), "outputs")
    quantization = _object(raw.get("quantization") or {"method": "none"}, "quantization")
    encoding = raw.get("encoding")
    readout = raw.get("readout", "mean_rate")
    readout = Readout.from_dict(_string(readout, "readout") if isinstance(readout, str) else _object(readout, "readout"))
    return ModelInfo(
        format=_string(raw["format"], "format"), graph=arguments.choice(raw["graph"], "graph", GRAPHS),
        opset=arguments.integer(raw.get("opset", 0), "opset", 0, 1000),
        input=Input(_string(inp.get("name"), "input.name"), input_shape,
                    arguments.choice(inp.get("dtype", "float32"), "input.dtype", DTYPES),
                    _bool(inp.get("binary", False), "input.binary")),
        layers=layers, states=states,
        outputs=Outputs(_string(outputs.get("spikes"), "outputs.spikes"),
                        None if outputs.get("rates") is None else _string(outputs["rates"], "outputs.rates")),
        timesteps=arguments.optional_integer(raw.get("timesteps"), "timesteps", 1, arguments.LIMITS["timesteps"]),
        encoding=None if not encoding else Encoder.from_dict(encoding),
        dataset=None if raw.get("dataset") is None else _string(raw["dataset"], "dataset"),
        readout=readout,
        quantization=Quantization(_string(quantization.get("method", "none"), "quantization.method"),
                                  _quantization_details(quantization, version, inp.get("binary", False))),
        producer=_object(raw.get("producer") or {}, "producer"),
        validation=None if raw.get("validation") is None else _object(raw["validation"], "validation"),
        source=None if raw.get("source") is None else _object(raw["source"], "source"),
        schema_version=SCHEMA_VERSION)


def _quantization_details(quantization: dict, version: int, binary) -> dict:
    details = {k: v for k, v in quantization.items() if k != "method"}
    if version < 3 and binary is True:  # schema 2's int8 graphs said so with their spikes-only input
        details.setdefault("arithmetic", "integer")
    disabled = details.get("ort_disabled_optimizers", [])
    if not isinstance(disabled, list) or not all(isinstance(n, str) for n in disabled):
        raise ConfigurationError(f"`quantization.ort_disabled_optimizers` must be a list of optimizer names, "
                                 f"got {_short(disabled)}")
    return details


_SNU_FIELDS = ("decay", "g", "activation", "recurrent", "lateral_inhibition")


def _layer(entry, version: int) -> Layer:
    entry = _object(entry, "layer")
    if version >= 3:
        kind = _string(entry.get("kind"), "layers.kind")
        fields = {k: v for k, v in entry.items() if k not in ("kind", "output_shape")}
        layer = Layer(kind, _shape(entry.get("output_shape"), "layers.output_shape", "units"), fields)
    else:  # schema 1-2: {units, cell, decay, g, activation, recurrent, lateral_inhibition, parameters}
        units = arguments.limited(entry.get("units"), "layers.units", "units")
        cell = _string(entry.get("cell", "snu"), "layers.cell")
        fields = {k: entry[k] for k in _SNU_FIELDS if entry.get(k) is not None}
        if cell == "snu":
            layer = Layer("snu", (units,), {"units": units, **fields})
        else:
            layer = Layer(cell, (units,), {"units": units, **fields, **_object(entry.get("parameters") or {},
                                                                               "layers.parameters")})
    if layer.kind in kinds.KINDS:
        layer.spec  # noqa: B018 - checks the kind's fields (a ConfigurationError names the bad one)
    return layer


def _state(entry, layers, version: int) -> State:
    entry = _object(entry, "state")
    layer = arguments.integer(entry.get("layer"), "states.layer", 0, len(layers) - 1)
    shape = entry.get("shape")
    if shape is None and version >= 3:
        raise ConfigurationError("every state needs its `shape`")
    if shape is None:
        dims = layers[layer].output_shape
    else:
        shape = _list(shape, "states.shape")
        if len(shape) < 2 or shape[0] is not None:
            raise ConfigurationError(f"state shape must be [null, ...], got {_short(shape)}")
        dims = _shape(shape[1:], "states.shape", "units")
    return State(layer, _string(entry.get("kind"), "states.kind"), _string(entry.get("input"), "states.input"),
                 _string(entry.get("output"), "states.output"), dims,
                 arguments.choice(entry.get("dtype", "float32"), "states.dtype", DTYPES))


def _checked(info: ModelInfo, source: str) -> ModelInfo:
    """Cross-field checks: states, names, shapes and the layer chain agree (see the module docstring)."""
    problems = []
    if not info.states:
        problems.append("it lists no state tensors")
    inputs = [info.input.name] + [s.input for s in info.states]
    outputs = [info.outputs.spikes] + [s.output for s in info.states] + ([info.outputs.rates] if info.outputs.rates
                                                                       else [])
    for kind, names in (("input", inputs), ("output", outputs)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problems.append(f"{kind} names repeat: {repeated}")
    if len(info.layers) > arguments.LIMITS["layers"]:
        problems.append(f"it has {len(info.layers)} layers (at most {arguments.LIMITS['layers']})")
    for s in info.states:
        (_, name_in, name_out), = state_names(s.layer, (s.kind,))
        if (s.input, s.output) != (name_in, name_out):
            problems.append(f"state {s.kind!r} of layer {s.layer} is wired {s.input} -> {s.output}; the naming "
                            f"contract says {name_in} -> {name_out}")
    problems += _chain_problems(info)
    encoder = info.encoding
    if encoder is not None and encoder.raw_features is not None \
            and encoder.channels(encoder.raw_features) != info.input.features:
        problems.append(f"the {encoder.kind} encoding makes {encoder.channels(encoder.raw_features)} input values "
                        f"per step of {encoder.raw_features} channels; `input.features` is {info.input.features}")
    integrator = info.layers[-1].kind == "leaky_integrator"
    if integrator != (info.readout.kind == "membrane"):
        problems.append(f"the {info.readout.kind} readout {'needs' if not integrator else 'cannot read'} a "
                        f"leaky_integrator output layer; the last layer is {info.layers[-1].kind}")
    if problems:
        raise ModelFileError(f"{source} has invalid snudeploy metadata: {'; '.join(problems)}.")
    return info


def _chain_problems(info: ModelInfo) -> list[str]:
    """Layers of registered kinds: output shapes follow from the input, states exist with those shapes."""
    problems, previous = [], info.input.shape
    for i, layer in enumerate(info.layers):
        spec = layer.spec
        if spec is not None:
            try:
                expected = spec.output_shape(previous)
            except ConfigurationError as e:
                problems.append(f"layer {i} ({layer.kind}) cannot take its input: {e}")
                expected = layer.output_shape
            if tuple(expected) != tuple(layer.output_shape):
                problems.append(f"layer {i} ({layer.kind}) says its output shape is {list(layer.output_shape)}; "
                                f"its fields and input {list(previous)} give {list(expected)}")
            have = {s.kind: s for s in info.states if s.layer == i}
            for kind in spec.STATES:
                if kind not in have:
                    problems.append(f"layer {i} ({layer.kind}) lacks its {kind!r} state")
                elif have[kind].shape != tuple(layer.output_shape):
                    problems.append(f"state {have[kind].input} has shape {list(have[kind].shape)}; layer {i} "
                                    f"({layer.kind}) outputs {list(layer.output_shape)}")
            extra = sorted(set(have) - set(spec.STATES))
            if extra:
                problems.append(f"layer {i} ({layer.kind}) has no state(s) {extra}")
        previous = layer.output_shape
    return problems


def _shape(value, what: str, limit: str) -> tuple[int, ...]:
    dims = _list(value, what)
    if not dims or len(dims) > 8:
        raise ConfigurationError(f"`{what}` must list 1 to 8 sizes, got {_short(value)}")
    shape = tuple(arguments.limited(d, what, limit) for d in dims)
    if math.prod(shape) > arguments.LIMITS["features"]:
        raise ConfigurationError(f"`{what}` {list(shape)} holds more than {arguments.LIMITS['features']:,} values")
    return shape


def _object(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigurationError(f"`{what}` must be an object, got {_short(value)}")
    return value


def _list(value, what: str) -> list:
    if not isinstance(value, list):
        raise ConfigurationError(f"`{what}` must be a list, got {_short(value)}")
    return value


def _string(value, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise ConfigurationError(f"`{what}` must be a name (1-256 characters), got {_short(value)}")
    return value


def _bool(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"`{what}` must be true or false, got {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(error: Exception) -> str:
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
