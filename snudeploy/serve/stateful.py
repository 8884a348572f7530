"""The sequence graph for Triton's ONNX Runtime backend: START and READY as graph inputs.

With implicit state Triton feeds each request's state inputs from the sequence's stored
state and stores the state outputs back. A request carries a chunk of K steps, so the
graph is a sequence graph (dynamic T: a free-T sequence graph as exported, or a step graph
rolled over time by :func:`snudeploy.runtime.scan.sequence_graph`) whose final states are
the next request's. The backend passes the sequence batcher's controls as graph inputs,
``[B, 1]`` int32 (1 = true), and the graph uses them so that it is correct whatever Triton
holds in a slot::

    state_in'  = Where(START, 0, state_in)          a new sequence starts from zero
    state_out  = Where(READY, chunk(state_in'), state_in')   an empty slot changes nothing

(the flags reshaped to ``[B, 1, ...]`` of each state's rank, so that they broadcast over
N-D states too). Where selects values, so a stream's spikes and states are bit for bit
those of the sequence graph; zeroing inside the graph also covers a configuration without
``initial_state`` (Triton then passes uninitialized memory at START, NaN included).
Every other node is untouched: the graph of any format (plain ops, custom-op functions,
int8) keeps its computation.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ModelFileError
from ..metadata import ModelInfo
from .config import READY, START

_ZERO = "snudeploy_triton_zero"


def with_sequence_controls(model: onnx.ModelProto, info: ModelInfo) -> onnx.ModelProto:
    """A copy of sequence graph ``model`` taking START and READY (see the module docstring).

    Raises:
        ModelFileError: ``model`` is not a sequence graph, or the result is not valid ONNX.
    """
    if info.graph != "sequence":
        raise ModelFileError(f"Triton's implicit state takes a sequence graph (chunks of K steps); this is a "
                             f"{info.graph} graph.")
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    batch = _batch_dim(graph, info.input.name)
    for name in (START, READY):
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.INT32, [batch, 1]))
    graph.initializer.append(helper.make_tensor(_ZERO, TensorProto.FLOAT, [], [0.0]))
    front = [helper.make_node("Cast", [START], ["start_flag"], to=TensorProto.BOOL),
             helper.make_node("Cast", [READY], ["ready_flag"], to=TensorProto.BOOL)]
    for rank in sorted({len(state.shape) for state in info.states}):  # [B, 1] -> [B, 1, ...] of each state rank
        shape = f"{_ZERO}_shape_{rank}"
        graph.initializer.append(numpy_helper.from_array(np.array([-1] + [1] * rank, np.int64), shape))
        front += [helper.make_node("Reshape", [f"{flag}_flag", shape], [f"{flag}_flag_{rank}"])
                  for flag in ("start", "ready")]
    back = []
    for state in info.states:
        fresh, stepped, rank = f"{state.input}_sequence", f"{state.output}_step", len(state.shape)
        _rename(graph, state.input, fresh)
        _rename(graph, state.output, stepped)
        front.append(helper.make_node("Where", [f"start_flag_{rank}", _ZERO, state.input], [fresh]))
        back.append(helper.make_node("Where", [f"ready_flag_{rank}", stepped, fresh], [state.output]))
    nodes = front + list(graph.node) + back
    del graph.node[:]
    graph.node.extend(nodes)
    try:
        onnx.checker.check_model(result, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ModelFileError(f"Adding START/READY to the sequence graph gave invalid ONNX: {e}") from None
    return result


def _batch_dim(graph: onnx.GraphProto, input_name: str):
    """The symbolic (or fixed) batch dimension of the input, for START and READY."""
    value = next(v for v in graph.input if v.name == input_name)
    first = value.type.tensor_type.shape.dim[0]
    return first.dim_param or (first.dim_value if first.HasField("dim_value") else "batch")


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename value ``old`` to ``new`` where nodes read or write it, in subgraph bodies too.

    Graph inputs and outputs keep their names: the new nodes connect them.
    """
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
        for attribute in node.attribute:
            bodies = [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)
            for body in bodies:
                _rename(body, old, new)
    for info in graph.value_info:
        if info.name == old:
            info.name = new
