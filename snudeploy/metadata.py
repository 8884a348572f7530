"""The ``snudeploy`` metadata every exported ONNX file carries, as typed, checked data.

``metadata_props["snudeploy"]`` holds one JSON object; the runtime needs nothing else to
serve the model. :func:`parse` reads and checks it once, into frozen dataclasses; nobody
reads the JSON by key. Tensors are looked up by the names recorded here, never by position.

Naming contract of snudeploy's exporters (other producers may name tensors differently;
the metadata says which names to use):

* input ``x``: ``[B, F]`` (step graphs) or ``[B, T, F]`` (sequence graphs), float32;
* state inputs ``l{i}_y``, ``l{i}_s`` ``[B, units_i]`` paired with outputs ``l{i}_y_next``,
  ``l{i}_s_next`` (sequence graphs take initial states too, so they can continue a stream);
* output ``spikes``: the output layer's ``y`` ``[B, C]`` (step) or ``[B, T, C]`` (sequence);
* output ``rates``: mean output rate over the sequence ``[B, C]`` (sequence graphs only).

Schema history: 1 (first release); 2 adds ``layers[].cell`` (``snu``, ``lstm`` or a NIR
neuron), ``input.binary`` (the model takes spikes only: int8 graphs) and free state kinds.
Version 1 files read as version 2 with the defaults.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from . import arguments
from .encoding import Encoding
from .errors import ConfigurationError, ModelFileError

METADATA_KEY = "snudeploy"
SCHEMA_VERSION = 2
INPUT_NAME = "x"
SPIKES_NAME = "spikes"
RATES_NAME = "rates"
GRAPHS = ("step", "sequence")
MAX_METADATA_BYTES = 1 << 22


def state_names(layer: int, kinds=("y", "s")) -> list[tuple[str, str, str]]:
    """[(kind, input name, output name)] of layer ``layer``'s states (the naming contract)."""
    return [(kind, f"l{layer}_{kind}", f"l{layer}_{kind}_next") for kind in kinds]


@dataclass(frozen=True)
class Layer:
    """One layer: its width and how it computes (SNU fields are None for other cells)."""
    units: int
    cell: str = "snu"
    decay: float | None = None
    g: str | None = None
    activation: str | None = None
    recurrent: bool = False
    lateral_inhibition: bool = False
    parameters: dict = field(default_factory=dict)  # cell-specific extras (NIR neurons)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if not self.parameters:
            del data["parameters"]
        return data


@dataclass(frozen=True)
class State:
    """One state tensor of layer ``layer``: fed as ``input``, returned as ``output``, ``[B, units]``."""
    layer: int
    kind: str
    input: str
    output: str
    units: int

    def to_dict(self) -> dict:
        return {"layer": self.layer, "kind": self.kind, "input": self.input, "output": self.output,
                "shape": [None, self.units]}


@dataclass(frozen=True)
class Input:
    name: str = INPUT_NAME
    features: int = 1
    dtype: str = "float32"
    binary: bool = False  # the graph is only correct for inputs in {0, 1} (int8 graphs)


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
    encoding: Encoding | None = None
    dataset: str | None = None
    readout: str = "mean_rate"
    quantization: Quantization = field(default_factory=Quantization)
    producer: dict = field(default_factory=dict)
    validation: dict | None = None
    source: dict | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def features(self) -> int:
        return self.input.features

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
            "input": dataclasses.asdict(self.input),
            "timesteps": self.timesteps,
            "layers": [layer.to_dict() for layer in self.layers],
            "states": [s.to_dict() for s in self.states],
            "outputs": {k: v for k, v in dataclasses.asdict(self.outputs).items() if v is not None},
            "encoding": self.encoding.to_dict() if self.encoding else None,
            "dataset": self.dataset,
            "readout": self.readout,
            "quantization": self.quantization.to_dict(),
            "producer": self.producer,
            "validation": self.validation,
            "source": self.source,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=_jsonable)


def snu_states(units: list[int]) -> tuple[State, ...]:
    """The ``(y, s)`` state pairs of SNU layers of ``units`` (the naming contract)."""
    return tuple(State(i, kind, name_in, name_out, int(u))
                 for i, u in enumerate(units) for kind, name_in, name_out in state_names(i))


def build(format: str, graph: str, layers: list[Layer], features: int, opset: int, *,
          states: tuple[State, ...] | None = None, timesteps: int | None = None, encoding: Encoding | None = None,
          dataset: str | None = None, quantization: Quantization | None = None, binary_input: bool = False,
          producer: dict | None = None, validation: dict | None = None, source: dict | None = None) -> ModelInfo:
    """The metadata of one exported graph, with the contract's tensor names."""
    layers = tuple(layers)
    info = ModelInfo(
        format=format, graph=graph, opset=opset,
        input=Input(INPUT_NAME, int(features), "float32", binary_input), layers=layers,
        states=states if states is not None else snu_states([layer.units for layer in layers]),
        outputs=Outputs(SPIKES_NAME, RATES_NAME if graph == "sequence" else None),
        timesteps=timesteps, encoding=encoding, dataset=dataset,
        quantization=quantization or Quantization(), producer=producer or {}, validation=validation, source=source)
    return _checked(info, "metadata")


def dumps(info: ModelInfo) -> str:
    return info.to_json()


def parse(text, source: str = "model") -> ModelInfo:
    """Parse and check the metadata JSON; :class:`ModelFileError` says what is wrong.

    Checks types, sizes (:data:`snudeploy.arguments.LIMITS`), that states belong to layers,
    and that names are unique; the graph itself is checked against this by the runtime.
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
        info = _from_raw(raw)
    except (ConfigurationError, TypeError, ValueError, KeyError, AttributeError) as e:
        raise ModelFileError(f"{source} has invalid snudeploy metadata: {_describe(e)}") from None
    return _checked(info, source)


def _from_raw(raw: dict) -> ModelInfo:
    layers = tuple(_layer(entry) for entry in _list(raw["layers"], "layers"))
    if not layers:
        raise ConfigurationError("it lists no layers")
    states = tuple(_state(entry, layers) for entry in _list(raw["states"], "states"))
    inp = _object(raw["input"], "input")
    outputs = _object(raw.get("outputs", {"spikes": SPIKES_NAME}), "outputs")
    quantization = _object(raw.get("quantization") or {"method": "none"}, "quantization")
    encoding = raw.get("encoding")
    return ModelInfo(
        format=_string(raw["format"], "format"), graph=arguments.choice(raw["graph"], "graph", GRAPHS),
        opset=arguments.integer(raw.get("opset", 0), "opset", 0, 1000),
        input=Input(_string(inp.get("name"), "input.name"),
                    arguments.limited(inp.get("features"), "input.features", "features"),
                    arguments.choice(inp.get("dtype", "float32"), "input.dtype", ("float32",)),
                    _bool(inp.get("binary", False), "input.binary")),
        layers=layers, states=states,
        outputs=Outputs(_string(outputs.get("spikes"), "outputs.spikes"),
                        None if outputs.get("rates") is None else _string(outputs["rates"], "outputs.rates")),
        timesteps=arguments.optional_integer(raw.get("timesteps"), "timesteps", 1, arguments.LIMITS["timesteps"]),
        encoding=None if not encoding else Encoding.from_dict(encoding),
        dataset=None if raw.get("dataset") is None else _string(raw["dataset"], "dataset"),
        readout=_string(raw.get("readout", "mean_rate"), "readout"),
        quantization=Quantization(_string(quantization.get("method", "none"), "quantization.method"),
                                  _quantization_details(quantization)),
        producer=_object(raw.get("producer") or {}, "producer"),
        validation=None if raw.get("validation") is None else _object(raw["validation"], "validation"),
        source=None if raw.get("source") is None else _object(raw["source"], "source"),
        schema_version=SCHEMA_VERSION)


def _quantization_details(quantization: dict) -> dict:
    details = {k: v for k, v in quantization.items() if k != "method"}
    disabled = details.get("ort_disabled_optimizers", [])
    if not isinstance(disabled, list) or not all(isinstance(n, str) for n in disabled):
        raise ConfigurationError(f"`quantization.ort_disabled_optimizers` must be a list of optimizer names, "
                                 f"got {_short(disabled)}")
    return details


def _layer(entry) -> Layer:
    entry = _object(entry, "layer")
    decay = entry.get("decay")
    return Layer(
        units=arguments.limited(entry.get("units"), "layers.units", "units"),
        cell=_string(entry.get("cell", "snu"), "layers.cell"),
        decay=None if decay is None else arguments.number(decay, "layers.decay", 0, 1),
        g=None if entry.get("g") is None else _string(entry["g"], "layers.g"),
        activation=None if entry.get("activation") is None else _string(entry["activation"], "layers.activation"),
        recurrent=_bool(entry.get("recurrent", False), "layers.recurrent"),
        lateral_inhibition=_bool(entry.get("lateral_inhibition", False), "layers.lateral_inhibition"),
        parameters=_object(entry.get("parameters") or {}, "layers.parameters"))


def _state(entry, layers) -> State:
    entry = _object(entry, "state")
    layer = arguments.integer(entry.get("layer"), "states.layer", 0, len(layers) - 1)
    shape = entry.get("shape")
    units = layers[layer].units
    if shape is not None:
        shape = _list(shape, "states.shape")
        if len(shape) != 2 or shape[0] is not None:
            raise ConfigurationError(f"state shape must be [null, units], got {shape!r}")
        units = arguments.limited(shape[1], "states.shape", "units")
    return State(layer, _string(entry.get("kind"), "states.kind"), _string(entry.get("input"), "states.input"),
                 _string(entry.get("output"), "states.output"), units)


def _checked(info: ModelInfo, source: str) -> ModelInfo:
    """Cross-field checks: a state per layer at least, unique names, T for fixed graphs."""
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
    if problems:
        raise ModelFileError(f"{source} has invalid snudeploy metadata: {'; '.join(problems)}.")
    return info


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
