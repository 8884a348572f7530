"""`snudeploy inspect`: what a snudeploy ONNX file holds (TensorFlow-free)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import check_outputs, digest_option, json_option, model_argument, write_json


@click.command()
@model_argument
@digest_option
@json_option
def inspect(model, check_digest, json_path):
    """Show format, layers, states, opset, operator histogram, size, quantization and validation of MODEL.onnx.

    The file is only read, never run, so operators snudeploy does not emit are listed, not refused.
    """
    check_outputs((json_path, "file"))
    info = describe(model, check_digest)
    click.echo(_render(info))
    write_json(json_path, info)


def describe(path: Path, check_digest: bool = True) -> dict:
    """Everything ``inspect`` shows, as a dict; :class:`ModelFileError` for a non-snudeploy file."""
    import onnx

    from .. import digest
    from ..converters.checks import op_histogram
    from ..runtime import load_model

    loaded = load_model(path, trust_operators=True, check_digest=check_digest)  # checks the file; never runs it
    model = onnx.load(str(path), load_external_data=False)
    meta = loaded.info.to_dict()
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        **{key: meta[key] for key in ("format", "graph", "input", "timesteps", "layers", "states", "outputs",
                                      "encoding", "dataset", "readout", "quantization", "producer", "source",
                                      "validation")},
        "opset": opsets.get("ai.onnx", meta["opset"]),
        "opset_imports": opsets,
        "ir_version": model.ir_version,
        "functions": [f"{f.domain}::{f.name}" for f in model.functions],
        "ops": op_histogram(model),
        "sha256": {p.key: p.value for p in model.metadata_props}.get(digest.DIGEST_KEY),
    }


def _dims(shape) -> str:
    return "[" + ", ".join("B" if d is None else str(d) for d in shape or []) + "]"


def _value(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, list) else str(value)


def _render(info: dict) -> str:
    lines = []
    add = lambda key, value: lines.append(f"{key:<17}{value}")  # noqa: E731
    add("file", f"{info['file']} ({info['size_bytes'] / 1024:.1f} KB)")
    steps = "one time step per call" if info["graph"] == "step" else f"T: {info['timesteps'] or 'any'}"
    add("format", f"{info['format']} (graph: {info['graph']}, {steps})")
    add("opset", ", ".join(f"{d} {v}" for d, v in info["opset_imports"].items()) + f"; IR {info['ir_version']}")
    inp = info.get("input") or {}
    add("input", f"{inp.get('name')} {_dims(inp.get('shape'))} per step ({inp.get('features')} values, "
        f"{inp.get('dtype')}{', spikes only' if inp.get('binary') else ''})")
    for i, layer in enumerate(info.get("layers") or []):
        fields = {k: v for k, v in layer.items() if k not in ("kind", "output_shape", "units", "filters")}
        details = ", ".join(("h" if k == "activation" else k.replace("_", " ")) + f" {_value(v)}"
                            for k, v in fields.items() if v is not False)
        add("layers" if i == 0 else "", f"l{i}: {layer.get('kind')} -> {_dims(layer.get('output_shape'))}"
            + (f", {details}" if details else ""))
    for i, state in enumerate(info.get("states") or []):
        add("states" if i == 0 else "", f"{state.get('input')} -> {state.get('output')} {_dims(state.get('shape'))}")
    add("outputs", ", ".join(f"{v}" for v in (info.get("outputs") or {}).values()))
    enc = info.get("encoding") or {}
    if enc:
        add("encoding", ", ".join(f"{k} {v}" for k, v in enc.items()))
    readout = info.get("readout") or {}
    add("readout", ", ".join(f"{k} {v}" for k, v in readout.items()) if isinstance(readout, dict) else str(readout))
    add("quantization", ", ".join(f"{k} {v}" for k, v in info["quantization"].items()))
    add("sha256", info["sha256"] or "none (written before snudeploy sealed its files)")
    v = info.get("validation")
    if v and "exact_reference" in v:
        exact = v["exact_reference"]
        add("exact check", f"{'equal' if exact['spikes_equal'] and exact['states_equal'] else 'DIFFERENT'} to "
            f"{exact['against']} on {exact['samples']} samples")
    if v and "against" in v:  # an int8 model: compared with its float parent, no gates
        per_layer = "/".join(f"{a:.3f}" for a in v["spike_agreement_per_layer"].values())
        add("validation", f"vs the {v['against']}: accuracy {v['float_accuracy']:.4f} -> {v['int8_accuracy']:.4f} "
            f"(drop {v['accuracy_drop_points']:.2f} points), prediction agreement {v['prediction_agreement']:.4f}, "
            f"spike agreement per layer {per_layer} on {v['test_samples']} test samples")
    elif v:
        verdict = "pass" if v.get("passed") else "FAIL " + "; ".join(v.get("failures", []))
        add("validation", f"{verdict}: spike agreement {v.get('spike_agreement', float('nan')):.6f}, "
            f"max |Δstate| {v.get('max_state_delta', float('nan')):.2e}, prediction agreement "
            f"{v.get('prediction_agreement', float('nan')):.4f} on {v.get('samples')} {v.get('dataset')} "
            f"samples, T={v.get('timesteps')}")
    else:
        add("validation", "none recorded")
    ops = info["ops"]
    for key, title in (("graph", "ops (graph)"), ("bodies", "ops (Loop/Scan)"), ("functions", "ops (functions)")):
        if ops[key]:
            add(title, f"{ops['total'][key]} nodes: " + ", ".join(f"{op} {n}" for op, n in ops[key].items()))
    if info.get("functions"):
        add("functions", ", ".join(info["functions"]))
    return "\n".join(lines)
