"""What the tf2onnx formats share: explicit-state ``tf.function`` signatures and conversion.

The functions are built from the Keras cells of the loaded checkpoint, so the exported
arithmetic is the cell's own ``call``. tf2onnx names graph inputs after the
``TensorSpec`` names and dict outputs after their keys (it flattens dicts sorted by key);
every output is wrapped in ``tf.identity`` so that no two keys share a tensor (the output
layer's ``y`` is both ``spikes`` and ``l{n}_y_next``), and the contract names are checked
after conversion (:func:`snudeploy.converters.checks.check_loads`).
"""

from __future__ import annotations

import onnx

from .. import interrupts
from ..errors import ExportError
from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME, state_names


def snu_cells(model) -> list:
    """The SNU cells of ``model`` in layer order (output layer last)."""
    cells = [layer.cell for layer in model.layers if hasattr(getattr(layer, "cell", None), "threshold")]
    if not cells:
        raise ExportError("The checkpoint has no SNU layers to export (is it an LSTM baseline?).")
    return cells


def signature(cells, features: int, time: int | None | str = "step") -> list:
    """``[x, l0_y, l0_s, ...]`` as ``tf.TensorSpec``; ``time="step"`` gives x [B, F], else [B, time, F]."""
    import tensorflow as tf

    x_shape = [None, features] if time == "step" else [None, time, features]
    specs = [tf.TensorSpec(x_shape, tf.float32, name=INPUT_NAME)]
    for i, cell in enumerate(cells):
        specs += [tf.TensorSpec([None, cell.units], tf.float32, name=name) for _, name, _ in state_names(i)]
    return specs


def named_outputs(spikes, final_states, sequence: bool) -> dict:
    """The contract's output dict: ``spikes``, (``rates``,) and every layer's next states."""
    import tensorflow as tf

    outputs = {SPIKES_NAME: tf.identity(spikes)}
    if sequence:
        outputs[RATES_NAME] = tf.reduce_mean(spikes, axis=1)
    for i, (y, s) in enumerate(final_states):
        (_, _, y_out), (_, _, s_out) = state_names(i)
        outputs[y_out], outputs[s_out] = tf.identity(y), tf.identity(s)
    return outputs


def convert(function, input_signature, opset: int) -> onnx.ModelProto:
    """tf2onnx ``from_function``, then readable symbolic dims (``batch``, ``time``).

    Ctrl-C is held until tf2onnx returns: its bare ``except:`` clauses would swallow it and
    go on with a half-read graph.
    """
    import tf2onnx

    try:
        with interrupts.held():
            model, _ = tf2onnx.convert.from_function(function, input_signature=input_signature, opset=opset)
    except Exception as e:  # tf2onnx raises bare exceptions of many kinds
        raise ExportError(f"tf2onnx could not convert the graph ({type(e).__name__}: {e}).") from e
    name_dims(model)
    return model


def name_dims(model: onnx.ModelProto) -> None:
    """Call the first dim of every graph input/output ``batch`` and a free second dim of a rank-3 one ``time``."""
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
        if len(dims) == 3 and not dims[1].HasField("dim_value"):
            dims[1].dim_param = "time"
