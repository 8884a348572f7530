"""TensorFlow baselines for ``bench latency --tf/--lstm``: Keras checkpoints as timed tf.functions.

A checkpoint becomes two ``tf.function``s: one time step of its Keras cells with the
states passed explicitly (what a streaming server would run in TensorFlow) and the
whole-sequence Keras model.
The LSTM baseline is also built as ONNX with the native ``LSTM`` operator
(:mod:`.lstm_onnx`), checked against TensorFlow, so the same network is timed on ONNX
Runtime through the runtime, as the SNU is.

TensorFlow fixes its thread pools when it first runs anything, so :func:`configure`
must come before any checkpoint is loaded, and it holds for the rest of the process.
This module imports TensorFlow; import it only when --tf or --lstm is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ..checkpoint import load_checkpoint
from ..errors import ExportError
from ..metadata import INPUT_NAME, SPIKES_NAME, state_names
from ..spec import ModelSpec

LSTM_OUTPUT = "output"
LSTM_TOLERANCE = 1e-4  # |ONNX LSTM - TensorFlow| on random inputs: float32 gate arithmetic


def configure(threads: int) -> dict:
    """Give TensorFlow ``threads`` intra-op threads and one inter-op thread, CPU only.

    When TensorFlow has already run in this process (e.g. under pytest) the settings can no
    longer change; the returned dict reports what is in force (0: TensorFlow's default).
    """
    for setter, value in ((tf.config.threading.set_intra_op_parallelism_threads, threads),
                          (tf.config.threading.set_inter_op_parallelism_threads, 1),
                          (lambda v: tf.config.set_visible_devices(v, "GPU"), [])):
        try:
            setter(value)
        except RuntimeError:
            pass  # TensorFlow is initialised already; report what holds below
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "gpus_visible": len(tf.config.get_visible_devices("GPU"))}


@dataclass
class KerasProgram:
    """A checkpoint's step function (explicit state) and whole-sequence function.

    Attributes:
        checkpoint: the checkpoint folder.
        spec: its model spec.
        step: ``step(x [B, F], *states) -> {output, next states}``.
        pairs: ``(state input, state output)`` names in the order ``step`` takes the states.
        widths: the per-stream shape of each state in ``pairs``.
        output: the key of the step's output.
        sequence: ``sequence(x [B, T, F]) -> mean output [B, C]`` (the Keras model).
        signature: ``step``'s input signature (for tf2onnx).
        lstm_weights: an LSTM's (kernel, recurrent kernel, bias) per layer; empty for SNU.
        integrator: (kernel, bias, decay) of an LSTM's leaky-integrator output layer (membrane readout), or None.
    """
    checkpoint: Path
    spec: ModelSpec
    step: object
    pairs: list
    widths: list
    output: str
    sequence: object
    signature: list
    lstm_weights: list
    integrator: tuple | None = None


def program(checkpoint) -> KerasProgram:
    """Load ``checkpoint`` (SNU or LSTM) as a :class:`KerasProgram`."""
    spec = ModelSpec.load(checkpoint)
    model = load_checkpoint(checkpoint)
    features = spec.input_features
    if spec.model == "lstm":
        step, signature, pairs, output = _lstm_step(model, features)
        widths = [tuple(t.shape[1:]) for t in signature[1:]]
    else:
        from ..converters.network import from_keras
        from ..converters.tfgraph import step_function

        network = from_keras(model, spec.input_shape)
        step, signature = step_function(network)
        pairs = [(name_in, name_out) for i, layer in network.stateful()
                 for _, name_in, name_out in state_names(i, layer.spec.STATES)]
        widths = [layer.output_shape for _, layer in network.stateful() for _ in layer.spec.STATES]
        output = SPIKES_NAME
    sequence = tf.function(lambda x: model(x, training=False),
                           input_signature=[tf.TensorSpec([None, None, *spec.input_shape], tf.float32)])
    lstm_weights = [tuple(w.numpy() for w in (layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias))
                    for layer in model.layers if isinstance(layer, tf.keras.layers.LSTM)]
    cell = getattr(model.layers[-2], "cell", None) if len(model.layers) > 1 else None
    integrator = (cell.kernel.numpy(), cell.bias.numpy(), cell.decay) \
        if lstm_weights and type(cell).__name__ == "LeakyIntegratorCell" else None  # the membrane readout's layer
    return KerasProgram(Path(checkpoint), spec, step, pairs, widths, output, sequence, signature, lstm_weights,
                        integrator)


def lstm_onnx(prog: KerasProgram) -> dict[str, bytes]:
    """The LSTM checkpoint as native-``LSTM`` ONNX models ``{"step": ..., "sequence": ...}``, checked
    against TensorFlow on random inputs (one step, and the mean output of a 5-step sequence)."""
    from ..runtime import Engine
    from .lstm_onnx import lstm_model

    integrator = prog.integrator
    models = {graph: lstm_model(prog.lstm_weights, graph, prog.spec.encoding, prog.spec.dataset, integrator,
                                prog.spec.readout)
              for graph in ("step", "sequence")}
    x = (np.random.default_rng(0).random((3, 5, prog.spec.input_features)) < 0.3).astype(np.float32)
    sequence, step = Engine(models["sequence"]), Engine(models["step"])
    _, rates, _ = sequence.sequence(x, sequence.zeros(3))
    first, _ = step.step(x[:, 0], step.zeros(3))
    expected_first = prog.step(x[:, 0], *[tf.zeros((3, *w), tf.float32) for w in prog.widths])[prog.output].numpy()
    error = max(float(np.max(np.abs(rates - prog.sequence(x).numpy()))), float(np.max(np.abs(first - expected_first))))
    if not error <= LSTM_TOLERANCE:
        raise ExportError(f"The ONNX LSTM baseline differs from TensorFlow by {error:.2g} (> {LSTM_TOLERANCE}).")
    return models


class TFStep:
    """One call of the step function on ``B`` streams, states kept as tensors between calls."""

    def __init__(self, prog: KerasProgram, x: np.ndarray):
        self._prog = prog
        self._frames = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(x.shape[1], x.shape[0],
                                                                           *prog.spec.input_shape)
        self._states = [tf.zeros((x.shape[0], *w), tf.float32) for w in prog.widths]
        self._t = 0

    def __call__(self):
        frame = self._frames[self._t]
        self._t = (self._t + 1) % len(self._frames)
        out = self._prog.step(frame, *self._states)
        self._states = [out[name_out] for _, name_out in self._prog.pairs]
        return out[self._prog.output].numpy()


class TFSequence:
    """One call of the whole-sequence Keras model on ``x [B, T, F]``."""

    def __init__(self, prog: KerasProgram, x: np.ndarray):
        self._prog, self._x = prog, x.reshape(*x.shape[:2], *prog.spec.input_shape)

    def __call__(self):
        return self._prog.sequence(self._x).numpy()


def _lstm_step(model, features: int):
    """One step of the LSTM layers' cells with explicit (h, c) states ``l{i}_h``, ``l{i}_c`` (and of a
    leaky-integrator output layer's, state ``l{n}_v``)."""
    cells = [layer.cell for layer in model.layers if isinstance(layer, tf.keras.layers.LSTM)]
    integrator = [layer.cell for layer in model.layers if type(getattr(layer, "cell", None)).__name__
                  == "LeakyIntegratorCell"]
    signature = [tf.TensorSpec([None, features], tf.float32, name=INPUT_NAME)]
    pairs = []
    for i, cell in enumerate(cells + integrator):
        for kind in ("h", "c") if i < len(cells) else ("v",):
            signature.append(tf.TensorSpec([None, cell.units], tf.float32, name=f"l{i}_{kind}"))
            pairs.append((f"l{i}_{kind}", f"l{i}_{kind}_next"))

    @tf.function(input_signature=signature, autograph=False)
    def lstm_step(x, *states):
        h, outputs = x, {}
        for i, cell in enumerate(cells):
            h, (h_next, c_next) = cell.call(h, [states[2 * i], states[2 * i + 1]])
            outputs[f"l{i}_h_next"], outputs[f"l{i}_c_next"] = tf.identity(h_next), tf.identity(c_next)
        for cell in integrator:
            h, (v,) = cell.call(h, [states[-1]])
            outputs[f"l{len(cells)}_v_next"] = tf.identity(v)
        outputs[LSTM_OUTPUT] = tf.identity(h)  # tf2onnx names outputs after these keys
        return outputs

    return lstm_step, signature, pairs, LSTM_OUTPUT
