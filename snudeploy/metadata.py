"""The ``snudeploy`` metadata every exported ONNX file carries (pure stdlib).

``metadata_props["snudeploy"]`` holds one JSON object; the runtime needs nothing else to
serve the model. Tensors are looked up by the names recorded here, never by position.

Naming contract (all formats, all graphs):

* input ``x``: ``[B, F]`` (step graphs) or ``[B, T, F]`` (sequence graphs), float32;
* state inputs ``l{i}_y``, ``l{i}_s`` ``[B, units_i]`` paired with outputs ``l{i}_y_next``,
  ``l{i}_s_next`` (sequence graphs take initial states too, so they can continue a stream);
* output ``spikes``: the output layer's ``y`` ``[B, C]`` (step) or ``[B, T, C]`` (sequence);
* output ``rates``: mean output rate over the sequence ``[B, C]`` (sequence graphs only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import ModelFileError

METADATA_KEY = "snudeploy"
SCHEMA_VERSION = 1
INPUT_NAME = "x"
SPIKES_NAME = "spikes"
RATES_NAME = "rates"
GRAPHS = ("step", "sequence")


def state_names(layer: int) -> list[tuple[str, str, str]]:
    """[(kind, input name, output name)] of layer ``layer``'s two states."""
    return [(kind, f"l{layer}_{kind}", f"l{layer}_{kind}_next") for kind in ("y", "s")]


def state_entries(units: list[int]) -> list[dict]:
    """The ``states`` list of the metadata for layers of ``units``."""
    return [{"layer": i, "kind": kind, "input": name_in, "output": name_out, "shape": [None, u]}
            for i, u in enumerate(units) for kind, name_in, name_out in state_names(i)]


def build(format: str, graph: str, layers: list[dict], features: int, opset: int, *,
          timesteps: int | None = None, encoding: dict | None = None, dataset: str | None = None,
          readout: str = "mean_rate", quantization: dict | None = None, producer: dict | None = None,
          validation: dict | None = None) -> dict:
    """Assemble the metadata of one exported graph (``layers``: the per-layer config dicts)."""
    outputs = {"spikes": SPIKES_NAME}
    if graph == "sequence":
        outputs["rates"] = RATES_NAME
    return {
        "schema_version": SCHEMA_VERSION,
        "format": format,
        "graph": graph,
        "opset": opset,
        "input": {"name": INPUT_NAME, "features": int(features), "dtype": "float32"},
        "timesteps": timesteps,
        "layers": layers,
        "states": state_entries([int(layer["units"]) for layer in layers]),
        "outputs": outputs,
        "encoding": encoding,
        "dataset": dataset,
        "readout": readout,
        "quantization": quantization or {"method": "none"},
        "producer": producer or {},
        "validation": validation,
    }


@dataclass(frozen=True)
class ModelInfo:
    """Parsed metadata with the accessors the runtime and ``inspect`` need."""
    raw: dict

    @property
    def format(self) -> str:
        return self.raw["format"]

    @property
    def graph(self) -> str:
        return self.raw["graph"]

    @property
    def features(self) -> int:
        return int(self.raw["input"]["features"])

    @property
    def classes(self) -> int:
        return int(self.raw["layers"][-1]["units"])

    @property
    def timesteps(self) -> int | None:
        return self.raw.get("timesteps")

    @property
    def states(self) -> list[dict]:
        return self.raw["states"]

    @property
    def layers(self) -> list[dict]:
        return self.raw["layers"]

    @property
    def encoding(self) -> dict:
        return self.raw.get("encoding") or {}

    @property
    def quantization(self) -> dict:
        return self.raw.get("quantization") or {"method": "none"}


def dumps(meta: dict) -> str:
    return json.dumps(meta, sort_keys=False, default=_jsonable)


def parse(text: str | None, source: str = "model") -> ModelInfo:
    """Parse and check the metadata JSON; raise :class:`ModelFileError` when unusable."""
    if not text:
        raise ModelFileError(f"{source} is not a snudeploy model: it has no '{METADATA_KEY}' metadata.")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{source} has corrupt snudeploy metadata: {e}") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{source} has corrupt snudeploy metadata: not a JSON object.")
    version = raw.get("schema_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{source} has snudeploy metadata without a schema version.")
    if version > SCHEMA_VERSION:
        raise ModelFileError(f"{source} was written with metadata schema {version}; this snudeploy "
                             f"reads up to {SCHEMA_VERSION}. Upgrade snudeploy.")
    missing = [k for k in ("format", "graph", "input", "layers", "states") if k not in raw]
    if missing:
        raise ModelFileError(f"{source} has incomplete snudeploy metadata (missing {', '.join(missing)}).")
    if raw["graph"] not in GRAPHS:
        raise ModelFileError(f"{source} declares unknown graph kind {raw['graph']!r}.")
    return ModelInfo(raw)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
