"""Static int8 quantization (QDQ) of exported SNU graphs with ONNX Runtime's tooling.

Only ``MatMul`` inputs are quantized: spikes (exactly 0 or 1, so uint8 with the calibrated
scale of 1/255 represents them without error) and the weights (int8). Its output ``W x``
stays float (ONNX Runtime runs it as MatMulIntegerToFloat): rounding it to 8 bits moved
the membrane by up to 0.02 and flipped 5 % of the second layer's spikes on digits. The
threshold comparison (``Sub``/``Greater``), the membrane update (``Mul``/``Add`` with the
decay and reset) and ``g`` stay float: a spike is decided by ``s - b > 0``, and rounding
``s`` or ``b`` to int8 flips every spike near the threshold and compounds over time
through the state. The only error left is the weights' rounding.

Graphs are quantized as exported (no ``quant_pre_process``: it fuses MatMul+Add into Gemm,
for which ONNX Runtime has no int8 QDQ kernel without an output Q, and runs it slower than
float). ``MatMul`` nodes inside ``Loop``/``Scan`` bodies and function bodies are out of the
quantizer's reach. The int8 formats are therefore ``step`` and ``customop`` with its
functions inlined first: ``SNULayer`` hoists ``x W`` for all time steps out of its ``Scan``,
so after inlining every (non-recurrent) MatMul sits in the main graph, once, whatever T.
``unrolled`` would quantize too, but it repeats the QDQ nodes T times (measured on digits:
1.75x smaller than float instead of 3.5x), and ``loop`` keeps its MatMuls inside Loop bodies.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..metadata import INPUT_NAME, state_names

QUANTIZABLE = {"step": "step", "customop": "sequence"}  # format -> the graph of it that is quantized
QUANTIZED_OPS = ("MatMul",)
# ONNX Runtime fuses MatMul+Add into Gemm before it fuses QDQ MatMuls into MatMulIntegerToFloat.
# In the step graph that caught the first layer: its int8 weights were dequantized to float on
# every call (Fashion-MNIST, B=1: 370 us per step instead of 37 us). The metadata names the
# optimizer so every session of the model (runtime, validation, bench) switches it off.
ORT_DISABLED_OPTIMIZERS = ("MatMulAddFusion",)
FLOAT_OPS_NOTE = ("MatMul quantized (uint8 spikes x int8 weights); threshold Sub/Greater, "
                  "decay/reset Mul/Add and g kept float")


def calibration_feeds(sess, graph: str, units: list[int], spikes: np.ndarray, batch: int = 128) -> list[dict]:
    """Feeds that cover what the graph sees in use: every step's input and states (step graphs,
    rolled with the float model) or whole sequences from zero state (sequence graphs)."""
    feeds = []
    names = [state_names(i) for i in range(len(units))]
    for start in range(0, len(spikes), batch):
        x = np.asarray(spikes[start:start + batch], np.float32)
        state = {n_in: np.zeros((len(x), u), np.float32) for u, layer in zip(units, names) for _, n_in, _ in layer}
        if graph != "step":
            feeds.append({INPUT_NAME: x, **state})
            continue
        outputs = [n_out for layer in names for _, _, n_out in layer]
        for t in range(x.shape[1]):
            feed = {INPUT_NAME: x[:, t], **state}
            feeds.append(feed)
            result = dict(zip(outputs, sess.run(outputs, feed)))
            state = {n_in: result[n_out] for layer in names for _, n_in, n_out in layer}
    return feeds


def inline_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its model-local functions (``ai.snudeploy`` ops) expanded in place."""
    import onnx.inliner

    return onnx.inliner.inline_local_functions(model) if model.functions else model


def quantize_graph(float_model: onnx.ModelProto, feeds: list[dict], per_channel: bool) -> onnx.ModelProto:
    """QDQ-quantize ``float_model``'s MatMuls: int8 symmetric weights, uint8 activations (MinMax)."""
    import tempfile
    from pathlib import Path

    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._feeds = iter(feeds)

        def get_next(self):
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save_model(float_model, str(source))
        quantize_static(str(source), str(target), _Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(QUANTIZED_OPS), per_channel=per_channel,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False,
                                       # keep W.x float: an 8-bit projection feeds the threshold test
                                       "OpTypesToExcludeOutputQuantization": list(QUANTIZED_OPS)})
        return onnx.load_model(str(target))


def int8_weight_fraction(model: onnx.ModelProto) -> float:
    """Fraction of initializer bytes held as int8/uint8 (how much of the model got quantized)."""
    total = quantized = 0
    for tensor in model.graph.initializer:
        size = len(tensor.raw_data) or onnx.numpy_helper.to_array(tensor).nbytes
        total += size
        if tensor.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            quantized += size
    return quantized / total if total else 0.0
