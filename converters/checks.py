"""Structural checks every exported graph passes before validation, and node histograms.

* ``onnx.checker.check_model(full_check=True)`` and strict shape inference;
* no ``Tanh`` anywhere (the spike is Heaviside = ``Greater`` + ``Cast``; a ``Tanh`` would mean
  the surrogate gradient leaked into the forward graph);
* the graph, with its metadata, loads as a snudeploy model
  (:func:`snudeploy.runtime.load_model`: naming contract, ranks and sizes against the
  metadata, only operators the format may contain, finite weights).
"""

from __future__ import annotations

from collections import Counter

import onnx

from ..errors import ExportError, ModelFileError
from ..runtime import load_model
from ..runtime.operators import used_operators

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


def check_onnx(model: onnx.ModelProto, graph: str) -> None:
    """Valid ONNX, strict shape inference, no surrogate-gradient ``Tanh``; :class:`ExportError` otherwise."""
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"The exported {graph} graph is not valid ONNX: {e}") from e
    forbidden = sorted(op for _, op in used_operators(model) if op in FORBIDDEN_OPS)
    if forbidden:
        raise ExportError(f"The exported {graph} graph contains {forbidden}: the spike must export as "
                          "Greater + Cast, not the surrogate gradient's tanh.")


def check_loads(model: onnx.ModelProto, graph: str) -> None:
    """The graph with its metadata passes the runtime's load checks; :class:`ExportError` otherwise."""
    try:
        load_model(model.SerializeToString())
    except ModelFileError as e:
        raise ExportError(f"The exported {graph} graph breaks the snudeploy model contract: {e}") from None
