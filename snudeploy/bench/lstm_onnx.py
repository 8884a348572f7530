"""The LSTM baseline as ONNX Runtime runs an LSTM best: ONNX's native ``LSTM`` operator.

Built from the Keras LSTM's weights (gates reordered from Keras' i, f, c, o to ONNX's
i, o, f, c; Keras' one bias becomes ONNX's input bias, the recurrent bias zero), with
the same contract as an SNU model (input ``x``, states ``l{i}_h``/``l{i}_c`` paired with
``..._next``, output ``spikes`` = the last layer's h) and snudeploy metadata of format
``lstm``, so the runtime streams it exactly as it streams an SNU (IOBinding included):
``bench latency`` then compares the two networks on equal terms.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import digest
from ..encoding import Encoder
from ..kinds import LeakyIntegrator
from ..kinds.graph import Graph
from ..metadata import Layer, State, build
from ..readouts import Readout

OPSET = 17
_KERAS_TO_ONNX_GATES = (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c


def _gates(matrix: np.ndarray, units: int) -> np.ndarray:
    """Keras ``[in, 4H]`` (i, f, c, o) -> ONNX ``[4H, in]`` (i, o, f, c)."""
    blocks = [matrix[..., g * units:(g + 1) * units] for g in _KERAS_TO_ONNX_GATES]
    return np.concatenate(blocks, axis=-1).T


def lstm_model(layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]], graph: str = "step",
               encoding: Encoder | None = None, dataset: str | None = None,
               integrator: tuple[np.ndarray, np.ndarray, float] | None = None,
               readout: Readout = Readout("membrane")) -> bytes:
    """An ONNX LSTM network of ``layers`` = [(kernel [F, 4H], recurrent_kernel [H, 4H], bias [4H])].

    ``graph="step"``: ``x [B, F]`` -> one step; ``"sequence"``: ``x [B, T, F]`` -> every step.
    ``integrator``: (kernel [H, C], bias [C], decay) of a leaky-integrator output layer after the
    LSTM layers (the membrane ``readout``'s, built as snudeploy's customop graphs build it).
    """
    sequence = graph == "sequence"
    features = layers[0][0].shape[0]
    time = ["time"] if sequence else []
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *time, features])]
    outputs, initializers, nodes, states = [], [], [], []
    zero = numpy_helper.from_array(np.array([0], np.int64), "axis0")
    one = numpy_helper.from_array(np.array([1], np.int64), "axis1")
    initializers += [zero, one]
    if sequence:  # [B, T, F] -> [T, B, F]
        nodes.append(helper.make_node("Transpose", ["x"], ["x_tbf"], perm=[1, 0, 2]))
    else:
        nodes.append(helper.make_node("Unsqueeze", ["x", "axis0"], ["x_tbf"]))
    current = "x_tbf"
    for i, (kernel, recurrent, bias) in enumerate(layers):
        units = recurrent.shape[0]
        for kind in ("h", "c"):
            inputs.append(helper.make_tensor_value_info(f"l{i}_{kind}", TensorProto.FLOAT, ["batch", units]))
            nodes.append(helper.make_node("Unsqueeze", [f"l{i}_{kind}", "axis0"], [f"l{i}_{kind}_0"]))
            states.append(State(i, kind, f"l{i}_{kind}", f"l{i}_{kind}_next", (units,)))
        initializers += [
            numpy_helper.from_array(_gates(kernel, units)[None].astype(np.float32), f"l{i}_W"),
            numpy_helper.from_array(_gates(recurrent, units)[None].astype(np.float32), f"l{i}_R"),
            numpy_helper.from_array(np.concatenate([_gates(bias[None], units).T[0], np.zeros(4 * units)])[None]
                                    .astype(np.float32), f"l{i}_B")]
        nodes.append(helper.make_node("LSTM", [current, f"l{i}_W", f"l{i}_R", f"l{i}_B", "", f"l{i}_h_0",
                                               f"l{i}_c_0"], [f"l{i}_Y", f"l{i}_Yh", f"l{i}_Yc"], hidden_size=units))
        nodes.append(helper.make_node("Squeeze", [f"l{i}_Y", "axis1"], [f"l{i}_seq"]))  # [T, B, H]
        for kind, out in (("h", f"l{i}_Yh"), ("c", f"l{i}_Yc")):
            nodes.append(helper.make_node("Squeeze", [out, "axis0"], [f"l{i}_{kind}_next"]))
            outputs.append(helper.make_tensor_value_info(f"l{i}_{kind}_next", TensorProto.FLOAT, ["batch", units]))
        current = f"l{i}_seq"
    classes = layers[-1][1].shape[0]
    readout = readout if integrator is not None else Readout()
    meta_layers = [Layer("lstm", (k[1].shape[0],), {"units": int(k[1].shape[0])}) for k in layers]
    if integrator is not None:
        from ..converters.customop import integrator as integrator_nodes
        from ..converters.network import NetworkLayer
        from ..converters.unrolled import scores

        kernel, bias, decay = integrator
        classes = kernel.shape[1]
        spec = LeakyIntegrator(units=int(classes), decay=float(decay))
        layer = NetworkLayer(spec, {"kernel": kernel, "bias": bias}, (kernel.shape[0],), (classes,))
        extra = Graph(OPSET, prefix="li_")
        batch_major = f"l{len(layers) - 1}_out"
        if sequence:
            nodes.append(helper.make_node("Transpose", [current], [batch_major], perm=[1, 0, 2]))
        else:
            nodes.append(helper.make_node("Squeeze", [current, "axis0"], [batch_major]))
        v = integrator_nodes(extra, len(layers), layer, batch_major, sequence, inputs, outputs)
        if sequence:
            extra("Identity", [scores(extra, v, readout, OPSET)], ["rates"])
        nodes += extra.nodes
        initializers += extra.initializers
        states.append(State(len(layers), "v", f"l{len(layers)}_v", f"l{len(layers)}_v_next", (classes,)))
        meta_layers.append(layer.metadata())
        current = v
        if sequence:
            nodes.append(helper.make_node("Identity", [current], ["spikes"]))
            outputs += [helper.make_tensor_value_info("spikes", TensorProto.FLOAT, ["batch", "time", classes]),
                        helper.make_tensor_value_info("rates", TensorProto.FLOAT, ["batch", classes])]
        else:
            nodes.append(helper.make_node("Identity", [current], ["spikes"]))
            outputs.append(helper.make_tensor_value_info("spikes", TensorProto.FLOAT, ["batch", classes]))
    elif sequence:
        nodes.append(helper.make_node("Transpose", [current], ["spikes"], perm=[1, 0, 2]))
        nodes.append(helper.make_node("ReduceMean", ["spikes"], ["rates"], axes=[1], keepdims=0))
        outputs += [helper.make_tensor_value_info("spikes", TensorProto.FLOAT, ["batch", "time", classes]),
                    helper.make_tensor_value_info("rates", TensorProto.FLOAT, ["batch", classes])]
    else:
        nodes.append(helper.make_node("Squeeze", [current, "axis0"], ["spikes"]))
        outputs.append(helper.make_tensor_value_info("spikes", TensorProto.FLOAT, ["batch", classes]))
    model = helper.make_model(helper.make_graph(nodes, f"lstm_{graph}", inputs, outputs, initializers),
                              opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snudeploy",
                              ir_version=8)
    info = build("lstm", graph, meta_layers, (features,), OPSET, states=tuple(states), encoding=encoding,
                 dataset=dataset, readout=readout)
    onnx.checker.check_model(model, full_check=True)
    return digest.attach(model, info.to_json())
