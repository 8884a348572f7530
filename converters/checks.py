"""Structural checks every exported graph passes, and node histograms (pure onnx).

* ``onnx.checker.check_model(full_check=True)`` and strict shape inference;
* the naming contract of :mod:`snudeploy.metadata` (input, state and output names);
* no ``Tanh`` anywhere (the spike is Heaviside = ``Greater`` + ``Cast``; a ``Tanh`` would mean
  the surrogate gradient leaked into the forward graph) and no operator from a domain other
  than ONNX's and ``ai.snudeploy`` (tf2onnx converts with ``continue_on_error`` and would
  leave an unconvertible TensorFlow op in place).
"""

from __future__ import annotations

from collections import Counter

import onnx

from ..errors import ExportError
from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME, state_names

ALLOWED_DOMAINS = ("", "ai.onnx", "ai.snudeploy")
FORBIDDEN_OPS = ("Tanh",)


def _subgraphs(node: onnx.NodeProto):
    for attribute in node.attribute:
        if attribute.type == onnx.AttributeProto.GRAPH:
            yield attribute.g
        elif attribute.type == onnx.AttributeProto.GRAPHS:
            yield from attribute.graphs


def _walk(nodes, in_body: bool):
    """Yield ``(node, in_body)`` for ``nodes`` and every node of their subgraphs."""
    for node in nodes:
        yield node, in_body
        for graph in _subgraphs(node):
            yield from _walk(graph.node, True)


def _key(node: onnx.NodeProto) -> str:
    return f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def op_histogram(model: onnx.ModelProto) -> dict:
    """Node counts: ``graph`` (top level), ``bodies`` (inside Loop/Scan/If bodies of the graph)
    and ``functions`` (inside model-local function bodies, their own bodies included)."""
    graph, bodies, functions = Counter(), Counter(), Counter()
    for node, in_body in _walk(model.graph.node, False):
        (bodies if in_body else graph)[_key(node)] += 1
    for function in model.functions:
        for node, _ in _walk(function.node, True):
            functions[_key(node)] += 1
    return {"graph": dict(graph.most_common()), "bodies": dict(bodies.most_common()),
            "functions": dict(functions.most_common()),
            "total": {"graph": sum(graph.values()), "bodies": sum(bodies.values()),
                      "functions": sum(functions.values())}}


def all_op_types(model: onnx.ModelProto) -> set[tuple[str, str]]:
    """``{(domain, op_type)}`` of every node: graph, subgraphs and function bodies."""
    nodes = list(_walk(model.graph.node, False))
    for function in model.functions:
        nodes += list(_walk(function.node, True))
    return {(node.domain, node.op_type) for node, _ in nodes}


def expected_names(graph: str, n_layers: int) -> tuple[list[str], list[str]]:
    """Contract input and output names of a ``graph`` (``"step"``/``"sequence"``) graph."""
    inputs, outputs = [INPUT_NAME], [SPIKES_NAME] + ([RATES_NAME] if graph == "sequence" else [])
    for i in range(n_layers):
        for _, name_in, name_out in state_names(i):
            inputs.append(name_in)
            outputs.append(name_out)
    return inputs, outputs


def check_contract(model: onnx.ModelProto, graph: str, units: list[int], features: int,
                   timesteps: int | None = None) -> None:
    """Names, then ranks and static dims, of the graph's inputs and outputs."""
    want_in, want_out = expected_names(graph, len(units))
    got_in = [v.name for v in model.graph.input if v.name not in {i.name for i in model.graph.initializer}]
    got_out = [v.name for v in model.graph.output]
    problems = []
    if sorted(got_in) != sorted(want_in):
        problems.append(f"inputs {sorted(got_in)} != {sorted(want_in)}")
    if sorted(got_out) != sorted(want_out):
        problems.append(f"outputs {sorted(got_out)} != {sorted(want_out)}")
    if not problems:
        time = [timesteps] if graph == "sequence" else []
        classes = units[-1]
        shapes = {INPUT_NAME: [None, *time, features], SPIKES_NAME: [None, *time, classes], RATES_NAME: [None, classes]}
        for i, u in enumerate(units):
            for _, name_in, name_out in state_names(i):
                shapes[name_in] = shapes[name_out] = [None, u]
        for value in list(model.graph.input) + list(model.graph.output):
            if value.name not in shapes:
                continue
            dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
            if dims != shapes[value.name] or value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
                problems.append(f"{value.name} is {dims}, expected float32 {shapes[value.name]}")
    if problems:
        raise ExportError("The exported graph breaks the naming contract: " + "; ".join(problems))


def check_graph(model: onnx.ModelProto, graph: str, units: list[int], features: int,
                timesteps: int | None = None) -> None:
    """Every check of this module; :class:`ExportError` on the first failure."""
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"The exported {graph} graph is not valid ONNX: {e}") from e
    ops = all_op_types(model)
    forbidden = sorted(op for domain, op in ops if op in FORBIDDEN_OPS)
    if forbidden:
        raise ExportError(f"The exported {graph} graph contains {forbidden}: the spike must export as "
                          "Greater + Cast, not the surrogate gradient's tanh.")
    foreign = sorted(f"{domain}::{op}" for domain, op in ops if domain not in ALLOWED_DOMAINS)
    if foreign:
        raise ExportError(f"The exported {graph} graph contains operators tf2onnx could not convert: {foreign}.")
    check_contract(model, graph, units, features, timesteps)
