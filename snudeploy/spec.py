"""The model spec: everything needed to rebuild, encode for, and describe a network.

A checkpoint is ``spec.json`` (this dataclass as JSON) plus ``model.weights.h5``. The spec
is plain data so converters, the runtime and the CLI can read it without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigurationError, ModelFileError

SPEC_FILE = "spec.json"
WEIGHTS_FILE = "model.weights.h5"
SCHEMA_VERSION = 1
MODELS = ("snu", "lstm")
CELLS = {"snu": "step", "ssnu": "sigmoid"}


@dataclass
class Encoding:
    """Rate encoding of the inputs; the test split uses ``seed + 1``."""
    timesteps: int = 20
    max_spikes: float = 6.0
    seed: int = 0

    def split_seed(self, split: str) -> int:
        return self.seed + (0 if split == "train" else 1)


@dataclass
class Recipe:
    epochs: int = 3
    batch_size: int = 15
    optimizer: str = "sgd"
    lr: float = 0.5
    loss: str = "mse"
    seed: int = 0
    limit: int | None = None


@dataclass
class ModelSpec:
    """Architecture, encoding, readout and training recipe of one network."""
    input_features: int
    classes: int
    hidden: list[int] = field(default_factory=lambda: [250, 250])
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
        if self.model not in MODELS:
            raise ConfigurationError(f"`model` must be one of {MODELS}, got {self.model!r}.")
        if self.cell not in CELLS:
            raise ConfigurationError(f"`cell` must be one of {tuple(CELLS)}, got {self.cell!r}.")
        if any(int(u) < 1 for u in self.hidden) or self.classes < 2 or self.input_features < 1:
            raise ConfigurationError("Layer sizes, classes and input features must be positive.")
        if isinstance(self.encoding, dict):
            self.encoding = Encoding(**self.encoding)
        if isinstance(self.recipe, dict):
            self.recipe = Recipe(**self.recipe)

    @property
    def units(self) -> list[int]:
        """Units of every recurrent layer, output layer last."""
        return [int(u) for u in self.hidden] + [self.classes]

    @property
    def activation(self) -> str:
        return CELLS[self.cell]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        if data.get("schema_version", 0) > SCHEMA_VERSION:
            raise ModelFileError(f"Checkpoint spec has schema version {data['schema_version']}; "
                                 f"this snudeploy reads up to {SCHEMA_VERSION}. Upgrade snudeploy.")
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as e:
            raise ModelFileError(f"Checkpoint spec is incomplete: {e}") from None

    def save(self, directory: Path) -> Path:
        path = Path(directory) / SPEC_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, checkpoint: str | Path) -> "ModelSpec":
        path = Path(checkpoint)
        path = path / SPEC_FILE if path.is_dir() else path
        if not path.is_file():
            raise ModelFileError(f"{checkpoint} is not a snudeploy checkpoint (no {SPEC_FILE}).")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise ModelFileError(f"{path} is not valid spec JSON: {e}") from None
