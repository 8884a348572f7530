"""The model spec: everything needed to rebuild, encode for, and describe a network.

A checkpoint is ``spec.json`` (this dataclass as JSON) plus ``model.weights.h5``. The spec
is plain data, checked when it is made or read, so converters, the runtime and the CLI can
rely on it without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from . import arguments, kinds
from .encoding import Encoder, Rate
from .readouts import Readout
from .errors import ConfigurationError, ModelFileError

SPEC_FILE = "spec.json"
WEIGHTS_FILE = "model.weights.h5"
METRICS_FILE = "metrics.json"
SCHEMA_VERSION = 3  # 1: a dense network of `hidden` sizes; 2: `layers` and `input_shape`; 3: encoders and readouts
#                    of every kind (`encoding.kind`, `readout` an object)
MODELS = ("snu", "lstm")
CELLS = kinds.CELLS  # cell -> its output activation h
LEGACY_FIELDS = ("input_features", "hidden", "cell", "decay", "g", "recurrent", "lateral_inhibition")
OPTIMIZERS = ("sgd", "adam")
LOSSES = ("mse", "crossentropy")
SCHEDULES = ("constant", "cosine")  # the learning rate over training: fixed, or cosine decay to 0 by the last step
MAX_SPEC_BYTES = 1 << 20


@dataclass(frozen=True)
class Recipe:
    """How a network is trained. ``batch_size`` is per replica when training is distributed."""
    epochs: int = 3
    batch_size: int = 15
    optimizer: str = "sgd"
    lr: float = 0.5
    loss: str = "mse"
    seed: int = 0
    limit: int | None = None
    schedule: str = "constant"

    def __post_init__(self):
        arguments.integer(self.epochs, "epochs", 1, 100_000)
        arguments.limited(self.batch_size, "batch_size", "batch")
        arguments.choice(self.optimizer, "optimizer", OPTIMIZERS)
        object.__setattr__(self, "lr", arguments.number(self.lr, "lr", 0, 1e6, min_open=True))
        arguments.choice(self.loss, "loss", LOSSES)
        arguments.integer(self.seed, "seed", 0)
        arguments.optional_integer(self.limit, "limit", 1, arguments.LIMITS["samples"])
        arguments.choice(self.schedule, "schedule", SCHEDULES)

    @property
    def rate_label(self) -> str:
        """The learning rate as printed, with its schedule (``0.001 (cosine decay)``)."""
        return f"{self.lr:g}{' (cosine decay)' if self.schedule == 'cosine' else ''}"

    def learning_rate(self, steps_per_epoch: int):
        """The optimizer's learning rate: ``lr``, or a Keras cosine decay from ``lr`` to 0 over all
        ``epochs x steps_per_epoch`` steps."""
        if self.schedule == "constant":
            return self.lr
        import tensorflow as tf

        return tf.keras.optimizers.schedules.CosineDecay(self.lr, decay_steps=self.epochs * steps_per_epoch)


@dataclass(frozen=True)
class ModelSpec:
    """Architecture, encoding, readout and training recipe of one network.

    ``layers`` is the network as an ordered list of typed layers (:mod:`snudeploy.kinds`),
    output layer last; ``input_shape`` is one time step's input (``(784,)`` for a dense network
    on flattened images, ``(28, 28, 1)`` channels last for a convolutional one). The seed
    network is ``ModelSpec.dense(784, 10)``; ``model="lstm"`` is the same-size LSTM baseline of a
    dense network (its SNU layers as LSTM layers; a leaky-integrator output layer stays).
    ``encoding`` turns raw samples into the input (:mod:`snudeploy.encoding`), ``readout`` the
    output over time into a prediction (:mod:`snudeploy.readouts`; its loss is the recipe's).
    """
    input_shape: tuple[int, ...]
    classes: int
    layers: tuple[kinds.LayerSpec, ...]
    model: str = "snu"
    dataset: str | None = None
    readout: Readout = field(default_factory=Readout)
    encoding: Encoder = field(default_factory=Rate)
    recipe: Recipe = field(default_factory=Recipe)
    quantization: dict = field(default_factory=lambda: {"method": "none"})
    metrics: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen
        shape = (self.input_shape,) if isinstance(self.input_shape, int) else self.input_shape
        if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__") or not 1 <= len(tuple(shape)) <= 3:
            raise ConfigurationError(f"Received an invalid value for argument `input_shape`, expected 1 to 3 sizes, "
                                     f"got {self.input_shape!r}.")
        set_("input_shape", tuple(arguments.limited(d, "input_shape", "features") for d in shape))
        if self.input_features > arguments.LIMITS["features"]:
            raise ConfigurationError(f"An input of shape {list(self.input_shape)} has more than "
                                     f"{arguments.LIMITS['features']:,} values.")
        arguments.limited(self.classes, "classes", "units", minimum=2)
        if isinstance(self.layers, (str, bytes, dict)) or not hasattr(self.layers, "__iter__"):
            raise ConfigurationError(f"Received an invalid value for argument `layers`, expected a list of layers, "
                                     f"got {self.layers!r}.")
        set_("layers", tuple(kinds.parse(layer) for layer in self.layers))
        if not self.layers or len(self.layers) > arguments.LIMITS["layers"]:
            raise ConfigurationError(f"A network has 1 to {arguments.LIMITS['layers']} layers, got {len(self.layers)}.")
        shapes = kinds.shapes(self.layers, self.input_shape)
        set_("readout", _readout(self.readout))
        output = kinds.LeakyIntegrator if self.readout.kind == "membrane" else kinds.DenseSNU
        if not isinstance(self.layers[-1], output) or shapes[-1] != (self.classes,):
            raise ConfigurationError(f"The last layer must be a {output.kind} layer with one unit per class "
                                     f"({self.classes}) for the {self.readout.kind} readout; got "
                                     f"{self.layers[-1].kind} with output {list(shapes[-1])}.")
        if any(isinstance(layer, kinds.LeakyIntegrator) for layer in self.layers[:-1]):
            raise ConfigurationError("A leaky_integrator layer is the output layer only (non-spiking).")
        if self.parameters > arguments.LIMITS["parameters"]:
            raise ConfigurationError(f"The network would have {self.parameters:,} weights; snudeploy builds networks "
                                     f"of up to {arguments.LIMITS['parameters']:,}.")
        arguments.choice(self.model, "model", MODELS)
        if self.model == "lstm" and not all(isinstance(layer, kinds.DenseSNU) for layer in self.layers[:-1]):
            raise ConfigurationError("The LSTM baseline is the same size as a network of dense SNU layers; this "
                                     "network has other layers.")
        if self.dataset is not None and not isinstance(self.dataset, str):
            raise ConfigurationError(f"Received an invalid value for argument `dataset`, got {self.dataset!r}.")
        if isinstance(self.encoding, dict):
            set_("encoding", Encoder.from_dict(self.encoding))
        if isinstance(self.recipe, dict):
            set_("recipe", _from_dict(Recipe, self.recipe, "recipe"))
        if not isinstance(self.encoding, Encoder) or not isinstance(self.recipe, Recipe):
            raise ConfigurationError("`encoding` and `recipe` must be an Encoder and a Recipe (or their dicts).")
        if self.recipe.loss != self.readout.loss:
            raise ConfigurationError(f"The {self.readout.kind} readout trains with the {self.readout.loss} loss; the "
                                     f"recipe says {self.recipe.loss}.")
        for name in ("quantization", "metrics"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigurationError(f"Received an invalid value for argument `{name}`, expected an object.")
        if not isinstance(self.quantization.get("method", "none"), str):
            raise ConfigurationError(f"`quantization.method` must be a name, got {self.quantization.get('method')!r}.")

    @classmethod
    def dense(cls, input_features: int, classes: int, hidden=(250, 250), cell: str = "snu", decay: float = 0.9,
              g: str = "leaky_relu", recurrent: bool = False, lateral_inhibition: bool = False, **fields) -> "ModelSpec":
        """A network of dense SNU layers ``hidden`` + one output unit per class, all of one kind of cell
        (the seed network: ``ModelSpec.dense(784, 10)``)."""
        arguments.choice(cell, "cell", tuple(kinds.CELLS))
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise ConfigurationError(f"Received an invalid value for argument `hidden`, expected a list of "
                                     f"positive integers, got {hidden!r}.")
        hidden = tuple(arguments.limited(units, "hidden", "units") for units in hidden)
        classes = arguments.limited(classes, "classes", "units", minimum=2)
        layers = [kinds.DenseSNU(units=units, decay=decay, g=g, activation=kinds.CELLS[cell], recurrent=recurrent,
                                 lateral_inhibition=lateral_inhibition) for units in (*hidden, classes)]
        if _readout(fields.get("readout", Readout())).kind == "membrane":
            layers[-1] = kinds.LeakyIntegrator(units=classes, decay=decay)
        return cls(input_shape=(input_features,), classes=classes, layers=tuple(layers), **fields)

    @classmethod
    def network(cls, layers, sample_shape, classes: int, **fields) -> "ModelSpec":
        """A network of ``layers`` (kinds or their JSON form) on samples of ``sample_shape`` (e.g. ``(28, 28)``).

        The input shape follows the first layer: a convolution takes images channels last
        (``(28, 28)`` becomes ``(28, 28, 1)``); a dense layer takes the sample flattened. When the
        last layer is not a dense SNU layer of ``classes`` units, one is added as the output layer,
        with the settings (decay, g, activation) of the network's last SNU layer.
        """
        if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
            raise ConfigurationError(f"A network is a list of layers, got {type(layers).__name__}.")
        layers = [kinds.parse(layer) for layer in layers]
        if not layers:
            raise ConfigurationError("A network needs at least one layer.")
        sample_shape = tuple(int(d) for d in sample_shape)
        rank = layers[0].INPUT_RANK
        if rank == 3:
            input_shape = sample_shape + (1,) if len(sample_shape) == 2 else sample_shape
        elif rank == 1:
            input_shape = (math.prod(sample_shape),)
        else:
            input_shape = sample_shape
        last = layers[-1]
        output = kinds.LeakyIntegrator if _readout(fields.get("readout", Readout())).kind == "membrane" \
            else kinds.DenseSNU
        if not (isinstance(last, output) and last.units == classes):
            cells = [layer for layer in layers if isinstance(layer, kinds.SNUKind)]
            settings = {"decay": cells[-1].decay, "g": cells[-1].g, "activation": cells[-1].activation} if cells else {}
            if output is kinds.LeakyIntegrator:
                settings = {"decay": settings["decay"]} if settings else {}
            layers.append(output(units=classes, **settings))
        return cls(input_shape=input_shape, classes=classes, layers=tuple(layers), **fields)

    @property
    def input_features(self) -> int:
        return math.prod(self.input_shape)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Every layer's output shape per step."""
        return kinds.shapes(self.layers, self.input_shape)

    @property
    def units(self) -> list[int]:
        """Neurons of every stateful layer, output layer last."""
        return [math.prod(shape) for layer, shape in zip(self.layers, self.shapes) if layer.stateful]

    @property
    def parameters(self) -> int:
        """Weights of the network (an LSTM has four gates' worth per layer, with recurrent kernels)."""
        inputs = [self.input_shape, *self.shapes[:-1]]
        if self.model == "lstm":
            return sum(4 * (shape[0] * u + u * u + u) if isinstance(layer, kinds.DenseSNU) else layer.weight_count(shape)
                       for layer, shape, u in zip(self.layers, inputs, self.units))
        return sum(layer.weight_count(shape) for layer, shape in zip(self.layers, inputs))

    @property
    def spiking(self) -> bool:
        """Every SNU layer outputs spikes (0 or 1), not the soft sSNU's sigmoid (a leaky-integrator output
        layer takes spikes and outputs its membrane value)."""
        return all(layer.spiking for layer in self.layers if isinstance(layer, kinds.SNUKind))

    def describe(self) -> str:
        """``784-250-250-10`` for dense networks; the layer kinds otherwise."""
        if all(isinstance(layer, kinds.DenseSNU) for layer in self.layers):
            return "-".join(map(str, [self.input_features, *self.units]))
        names = {"snu_conv2d": lambda l: f"conv{l.filters}", "snu": lambda l: f"snu{l.units}",
                 "avg_pool2d": lambda l: f"avgpool{l.pool_size[0]}",
                 "leaky_integrator": lambda l: f"li{l.units}", "sum_pool2d": lambda l: f"sumpool{l.pool_size[0]}"}
        return "x".join(map(str, self.input_shape)) + "-" + "-".join(
            names.get(layer.kind, lambda l: l.kind)(layer) for layer in self.layers if not layer.TRAINING_ONLY)

    @property
    def quantization_method(self) -> str:
        return self.quantization.get("method", "none")

    def replace(self, **changes) -> "ModelSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["layers"] = [layer.to_dict() for layer in self.layers]
        data["encoding"] = self.encoding.to_dict()
        data["readout"] = self.readout.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        if not isinstance(data, dict):
            raise ModelFileError("A checkpoint spec must be a JSON object.")
        version = data.get("schema_version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ModelFileError(f"Checkpoint spec has an invalid schema version {version!r}; expected an integer.")
        if version > SCHEMA_VERSION:
            raise ModelFileError(f"Checkpoint spec has schema version {version}; "
                                 f"this snudeploy reads up to {SCHEMA_VERSION}. Upgrade snudeploy.")
        try:
            if "layers" not in data:  # schema 1: a dense network described by hidden sizes
                legacy = {k: data[k] for k in LEGACY_FIELDS if k in data}
                rest = {k: v for k, v in data.items() if k not in LEGACY_FIELDS and k != "schema_version"}
                if "input_features" not in legacy or "classes" not in rest:
                    raise ConfigurationError(f"`spec` lacks {'input_features' if 'classes' in rest else 'classes'}.")
                return cls.dense(legacy.pop("input_features"), rest.pop("classes"), **legacy,
                                 **{k: v for k, v in rest.items() if k in _FIELDS})
            return _from_dict(cls, {**data, "schema_version": SCHEMA_VERSION}, "spec")
        except ConfigurationError as e:
            raise ModelFileError(f"Checkpoint spec is invalid: {e}") from None

    def save(self, directory: Path) -> Path:
        from .files import write_text

        return write_text(Path(directory) / SPEC_FILE, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, checkpoint: str | Path) -> "ModelSpec":
        """Read ``spec.json`` of checkpoint folder ``checkpoint`` (or the file itself)."""
        path = Path(checkpoint)
        if path.suffix == ".onnx" and path.is_file():
            raise ModelFileError(f"{checkpoint} is an ONNX model; this expects a checkpoint folder "
                                 f"(with {SPEC_FILE} and {WEIGHTS_FILE}).")
        path = path / SPEC_FILE if path.is_dir() else path
        if not path.is_file() or path.name != SPEC_FILE:
            raise ModelFileError(f"{checkpoint} is not a snudeploy checkpoint folder (no {SPEC_FILE}).")
        try:
            if path.stat().st_size > MAX_SPEC_BYTES:
                raise ModelFileError(f"{path} is larger than a spec can be ({MAX_SPEC_BYTES} bytes).")
            return cls.from_dict(json.loads(path.read_bytes().decode("utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise ModelFileError(f"{path} is not valid spec JSON: {e}") from None
        except OSError as e:
            raise ModelFileError(f"Cannot read {path}: {e.strerror or e}") from None


def _readout(value) -> Readout:
    return Readout.from_dict(value)


def _from_dict(cls, data: dict, what: str):
    if not isinstance(data, dict):
        raise ConfigurationError(f"`{what}` must be a JSON object, got {type(data).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigurationError(f"`{what}` lacks {', '.join(missing)}.")
    return cls(**{k: v for k, v in data.items() if k in known})


_FIELDS = {f.name for f in dataclasses.fields(ModelSpec)}
