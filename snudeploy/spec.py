"""The model spec: everything needed to rebuild, encode for, and describe a network.

A checkpoint is ``spec.json`` (this dataclass as JSON) plus ``model.weights.h5``. The spec
is plain data, checked when it is made or read, so converters, the runtime and the CLI can
rely on it without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import activation_table, arguments
from .encoding import Encoding
from .errors import ConfigurationError, ModelFileError

SPEC_FILE = "spec.json"
WEIGHTS_FILE = "model.weights.h5"
METRICS_FILE = "metrics.json"
SCHEMA_VERSION = 1
MODELS = ("snu", "lstm")
CELLS = {"snu": "step", "ssnu": "sigmoid"}  # cell -> its output activation h
OPTIMIZERS = ("sgd", "adam")
LOSSES = ("mse",)
READOUTS = ("mean_rate",)
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

    def __post_init__(self):
        arguments.integer(self.epochs, "epochs", 1, 100_000)
        arguments.limited(self.batch_size, "batch_size", "batch")
        arguments.choice(self.optimizer, "optimizer", OPTIMIZERS)
        object.__setattr__(self, "lr", arguments.number(self.lr, "lr", 0, 1e6, min_open=True))
        arguments.choice(self.loss, "loss", LOSSES)
        arguments.integer(self.seed, "seed", 0)
        arguments.optional_integer(self.limit, "limit", 1, arguments.LIMITS["samples"])


@dataclass(frozen=True)
class ModelSpec:
    """Architecture, encoding, readout and training recipe of one network."""
    input_features: int
    classes: int
    hidden: tuple[int, ...] = (250, 250)
    model: str = "snu"
    cell: str = "snu"
    decay: float = 0.9
    g: str = "leaky_relu"
    recurrent: bool = False
    lateral_inhibition: bool = False
    dataset: str | None = None
    readout: str = "mean_rate"
    encoding: Encoding = field(default_factory=Encoding)
    recipe: Recipe = field(default_factory=Recipe)
    quantization: dict = field(default_factory=lambda: {"method": "none"})
    metrics: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen
        arguments.limited(self.input_features, "input_features", "features")
        arguments.limited(self.classes, "classes", "units", minimum=2)
        if isinstance(self.hidden, (str, bytes)) or not hasattr(self.hidden, "__iter__"):
            raise ConfigurationError(f"Received an invalid value for argument `hidden`, expected a list of "
                                     f"positive integers, got {self.hidden!r}.")
        set_("hidden", tuple(arguments.limited(u, "hidden", "units") for u in self.hidden))
        if len(self.hidden) + 1 > arguments.LIMITS["layers"]:
            raise ConfigurationError(f"A network may have at most {arguments.LIMITS['layers']} layers.")
        if self.parameters > arguments.LIMITS["parameters"]:
            raise ConfigurationError(f"The network would have {self.parameters:,} weights; snudeploy builds networks "
                                     f"of up to {arguments.LIMITS['parameters']:,}.")
        arguments.choice(self.model, "model", MODELS)
        arguments.choice(self.cell, "cell", tuple(CELLS))
        set_("decay", arguments.number(self.decay, "decay", 0, 1))
        set_("g", activation_table.state_function_name(self.g))
        for flag in ("recurrent", "lateral_inhibition"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigurationError(f"Received an invalid value for argument `{flag}`, expected true or false, "
                                         f"got {getattr(self, flag)!r}.")
        if self.dataset is not None and not isinstance(self.dataset, str):
            raise ConfigurationError(f"Received an invalid value for argument `dataset`, got {self.dataset!r}.")
        arguments.choice(self.readout, "readout", READOUTS)
        if isinstance(self.encoding, dict):
            set_("encoding", Encoding.from_dict(self.encoding))
        if isinstance(self.recipe, dict):
            set_("recipe", _from_dict(Recipe, self.recipe, "recipe"))
        if not isinstance(self.encoding, Encoding) or not isinstance(self.recipe, Recipe):
            raise ConfigurationError("`encoding` and `recipe` must be an Encoding and a Recipe (or their dicts).")
        for name in ("quantization", "metrics"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigurationError(f"Received an invalid value for argument `{name}`, expected an object.")
        if not isinstance(self.quantization.get("method", "none"), str):
            raise ConfigurationError(f"`quantization.method` must be a name, got {self.quantization.get('method')!r}.")

    @property
    def units(self) -> list[int]:
        """Units of every layer, output layer last."""
        return [*self.hidden, self.classes]

    @property
    def parameters(self) -> int:
        """Weights of the network (an LSTM has four gates' worth per layer)."""
        fan_in = [self.input_features, *self.hidden]
        per_layer = [f * u + (u * u if self.recurrent or self.model == "lstm" else 0) + u
                     for f, u in zip(fan_in, self.units)]
        return sum(per_layer) * (4 if self.model == "lstm" else 1)

    @property
    def activation(self) -> str:
        return CELLS[self.cell]

    @property
    def quantization_method(self) -> str:
        return self.quantization.get("method", "none")

    def replace(self, **changes) -> "ModelSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        if not isinstance(data, dict):
            raise ModelFileError("A checkpoint spec must be a JSON object.")
        version = data.get("schema_version", 0)
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise ModelFileError(f"Checkpoint spec has schema version {version}; "
                                 f"this snudeploy reads up to {SCHEMA_VERSION}. Upgrade snudeploy.")
        try:
            return _from_dict(cls, data, "spec")
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


def _from_dict(cls, data: dict, what: str):
    if not isinstance(data, dict):
        raise ConfigurationError(f"`{what}` must be a JSON object, got {type(data).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigurationError(f"`{what}` lacks {', '.join(missing)}.")
    return cls(**{k: v for k, v in data.items() if k in known})
