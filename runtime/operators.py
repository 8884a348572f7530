"""The operators snudeploy's exporters emit, per format: what a model file may contain.

A model file is untrusted; a graph built to hang or exhaust the machine needs operators
an SNU never uses (a ``ConstantOfShape`` of 4 TiB, a ``Loop`` in a step graph). So the
runtime accepts, for each format, the operators that format's exporter writes (graph,
subgraphs and model-local function bodies), and names anything else. Users running graphs
they built themselves opt out with ``trust_operators=True`` (the other checks still run).
The converter tests check every export against this table, so the two cannot drift.
"""

from __future__ import annotations

import onnx

from ..errors import ModelFileError
from ..metadata import ModelInfo

ONNX_DOMAINS = ("", "ai.onnx")
CUSTOM_DOMAIN = "ai.snudeploy"

# The SNU arithmetic, in every format (customop function bodies included), with the layer kinds' own
# operators (snudeploy/kinds: convolution, pooling, flatten); int8 graphs add the integer products.
_SNU = {"MatMul", "Add", "Sub", "Mul", "Greater", "Cast", "Identity", "LeakyRelu", "Relu", "Sigmoid", "ReduceMax",
        "Constant"}
_KINDS = {"Conv", "Transpose", "Reshape", "ReduceSum", "Div", "Slice"}
INTEGER_OPS = {"MatMulInteger", "ConvInteger"}
ALLOWED = {
    "step": _SNU | _KINDS | INTEGER_OPS,
    "unrolled": _SNU | _KINDS | INTEGER_OPS | {"Split", "Concat", "Squeeze", "Unsqueeze", "ReduceMean", "Gather"},
    "customop": _SNU | _KINDS | INTEGER_OPS | {"Scan", "ReduceMean", "Shape", "Concat", "Gather"},
    "loop": _SNU | _KINDS | {"Loop", "And", "Less", "Gather", "Shape", "Slice", "Squeeze", "Unsqueeze", "Concat",
                             "ReduceMean", "StridedSlice"},
    "nir": {"MatMul", "Add", "Mul", "Greater", "Cast", "Where", "Identity", "Conv", "Div", "Reshape"},  # nir_import.py
    "lstm": {"LSTM", "Squeeze", "Unsqueeze", "Transpose", "ReduceMean",    # snudeploy/bench/lstm_onnx.py
             "MatMul", "Add", "Mul", "Identity", "Scan", "Gather", "ReduceMax"},  # (+ a leaky integrator)
}
CUSTOM_OPS = {"SNUCell", "SNULayer", "SNUConv2DCell", "SNUConv2DLayer"}  # ai.snudeploy nodes, allowed only with their function in the model


def used_operators(proto: onnx.ModelProto) -> set[tuple[str, str]]:
    """``{(domain, op_type)}`` of every node: graph, subgraphs and model-local function bodies."""
    found, stack = set(), [proto.graph.node] + [f.node for f in proto.functions]
    while stack:
        for node in stack.pop():
            found.add((node.domain, node.op_type))
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    stack.append(attribute.g.node)
                elif attribute.type == onnx.AttributeProto.GRAPHS:
                    stack.extend(g.node for g in attribute.graphs)
    return found


def check_operators(proto: onnx.ModelProto, info: ModelInfo, source: str) -> None:
    """Raise :class:`ModelFileError` naming every operator the format's exporter does not emit."""
    allowed = ALLOWED.get(info.format)
    if allowed is None:
        raise ModelFileError(f"{source} declares format {info.format!r}, which snudeploy does not know "
                             f"({', '.join(ALLOWED)}); load it with trust_operators=True if you built it yourself.")
    functions = {(f.domain, f.name) for f in proto.functions}
    foreign = []
    for domain, op in sorted(used_operators(proto)):
        if domain in ONNX_DOMAINS and op in allowed:
            continue
        if domain == CUSTOM_DOMAIN and op in CUSTOM_OPS and (domain, op) in functions:
            continue
        foreign.append(f"{domain}::{op}" if domain else op)
    if foreign:
        raise ModelFileError(f"{source} contains operator(s) {', '.join(foreign)}, which snudeploy's {info.format} "
                             "exporter does not emit; refusing to run it (pass trust_operators=True for a graph "
                             "you built yourself).")
