"""`snudeploy inspect`: what a snudeploy ONNX file holds (TensorFlow-free)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import json_option, write_json


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="MODEL.onnx")
@json_option
def inspect(model, json_path):
    """Show format, layers, states, opset, operator histogram, size, quantization and validation of MODEL.onnx."""
    info = describe(model)
    click.echo(_render(info))
    write_json(json_path, info)


def describe(path: Path) -> dict:
    """Everything ``inspect`` shows, as a dict; :class:`ModelFileError` for a non-snudeploy file."""
    import onnx
    from google.protobuf.message import DecodeError

    from ..converters.checks import op_histogram
    from ..errors import ModelFileError
    from ..metadata import METADATA_KEY, parse

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError) as e:
        raise ModelFileError(f"{path} is not an ONNX file ({type(e).__name__}: {e}).") from None
    props = {p.key: p.value for p in model.metadata_props}
    meta = parse(props.get(METADATA_KEY), source=str(path)).raw
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "format": meta.get("format"),
        "graph": meta.get("graph"),
        "opset": opsets.get("ai.onnx", meta.get("opset")),
        "opset_imports": opsets,
        "ir_version": model.ir_version,
        "input": meta.get("input"),
        "timesteps": meta.get("timesteps"),
        "layers": meta.get("layers"),
        "states": meta.get("states"),
        "outputs": meta.get("outputs"),
        "encoding": meta.get("encoding"),
        "dataset": meta.get("dataset"),
        "readout": meta.get("readout"),
        "quantization": meta.get("quantization") or {"method": "none"},
        "producer": meta.get("producer"),
        "source": meta.get("source"),
        "validation": meta.get("validation"),
        "functions": [f"{f.domain}::{f.name}" for f in model.functions],
        "ops": op_histogram(model),
    }


def _render(info: dict) -> str:
    lines = []
    add = lambda key, value: lines.append(f"{key:<17}{value}")  # noqa: E731
    add("file", f"{info['file']} ({info['size_bytes'] / 1024:.1f} KB)")
    steps = "one time step per call" if info["graph"] == "step" else f"T: {info['timesteps'] or 'any'}"
    add("format", f"{info['format']} (graph: {info['graph']}, {steps})")
    add("opset", ", ".join(f"{d} {v}" for d, v in info["opset_imports"].items()) + f"; IR {info['ir_version']}")
    inp = info.get("input") or {}
    add("input", f"{inp.get('name')} [{inp.get('features')} features, {inp.get('dtype')}]")
    for i, layer in enumerate(info.get("layers") or []):
        flags = [f for f in ("recurrent", "lateral_inhibition") if layer.get(f)]
        add("layers" if i == 0 else "", f"l{i}: {layer.get('units')} units, decay {layer.get('decay')}, "
            f"g {layer.get('g')}, h {layer.get('activation')}" + (f", {', '.join(flags)}" if flags else ""))
    for i, state in enumerate(info.get("states") or []):
        shape = "[" + ", ".join("B" if d is None else str(d) for d in state.get("shape", [])) + "]"
        add("states" if i == 0 else "", f"{state.get('input')} -> {state.get('output')} {shape}")
    add("outputs", ", ".join(f"{v}" for v in (info.get("outputs") or {}).values()))
    enc = info.get("encoding") or {}
    if enc:
        add("encoding", ", ".join(f"{k} {v}" for k, v in enc.items()))
    add("quantization", ", ".join(f"{k} {v}" for k, v in info["quantization"].items()))
    v = info.get("validation")
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
