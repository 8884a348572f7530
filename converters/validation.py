"""Parity of an exported graph against TensorFlow (separate from export, Optimum-style).

TensorFlow side (:func:`reference`): the checkpoint's cells inside Keras ``RNN`` layers
(``return_sequences`` and ``return_state``) give every layer's spikes at every step and
the final states; the Keras model itself gives the mean output rates (predictions).

ONNX side (:func:`run_onnx`, ONNX Runtime, CPU provider): a step graph is rolled T times
from zero states, so every layer's ``y`` is seen at every step; a sequence graph runs once
and gives the output layer's spikes at every step and every layer's final states.

:func:`compare` checks names, then shapes, then values, collects every failure, and
reports spike agreement (the fraction of equal spikes over everything compared),
max |Δ state| over the final states, and prediction agreement (argmax of the mean output
rate). :func:`validate` raises one :class:`~snudeploy.errors.ValidationError` carrying
all reports when any graph misses its gates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import onnx

from ..errors import ValidationError
from ..metadata import INPUT_NAME, RATES_NAME, SPIKES_NAME, state_names
from .checks import expected_names
from .formats import Gates

BATCH = 256  # samples per TensorFlow / ONNX Runtime call


@dataclass
class Reference:
    """TensorFlow's results on the validation spikes."""
    sequences: list          # per layer: y at every step [N, T, U_i]
    states: list             # per layer: final (y, s), each [N, U_i]
    rates: np.ndarray        # the Keras model's output [N, C]
    soft: list               # per layer: True when the output is sigmoid (not a spike)


@dataclass
class OnnxResult:
    sequences: dict          # layer index -> y at every step [N, T, U]
    states: list             # per layer: final (y, s)
    rates: np.ndarray        # mean output rate [N, C]
    provider: str


def reference(model, spikes: np.ndarray) -> Reference:
    """Run TensorFlow on ``spikes`` [N, T, F] (uint8 or float)."""
    import tensorflow as tf

    from .tfgraph import snu_cells

    cells = snu_cells(model)
    rnns = [tf.keras.layers.RNN(cell, return_sequences=True, return_state=True) for cell in cells]

    @tf.function
    def run(x):
        h, out = x, []
        for rnn in rnns:
            h, y, s = rnn(h)
            out.append((h, y, s))
        return out, model(x, training=False)

    chunks = []
    for start in range(0, len(spikes), BATCH):
        x = tf.constant(np.asarray(spikes[start:start + BATCH], np.float32))
        layers, rates = run(x)
        chunks.append(([tuple(t.numpy() for t in layer) for layer in layers], rates.numpy()))
    n = len(cells)
    cat = lambda i, k: np.concatenate([c[0][i][k] for c in chunks])  # noqa: E731
    return Reference(sequences=[cat(i, 0) for i in range(n)], states=[(cat(i, 1), cat(i, 2)) for i in range(n)],
                     rates=np.concatenate([c[1] for c in chunks]),
                     soft=[cell.activation_name != "step" for cell in cells])


def session(model: onnx.ModelProto | bytes | str, threads: int = 1, disabled_optimizers=()):
    """An ONNX Runtime CPU session for ``model`` (proto, bytes or path).

    ``disabled_optimizers``: ONNX Runtime graph optimizers to switch off, as a quantized
    model's metadata asks (``quantization.ort_disabled_optimizers``).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers))


def run_onnx(sess, graph: str, units: list[int], spikes: np.ndarray) -> OnnxResult:
    """Run ``sess`` over ``spikes`` [N, T, F] from zero states (step graphs: rolled T times)."""
    n_layers = len(units)
    names = [(y_in, s_in, y_out, s_out) for i in range(n_layers)
             for (_, y_in, y_out), (_, s_in, s_out) in [state_names(i)]]
    per_chunk = []
    for start in range(0, len(spikes), BATCH):
        x = np.asarray(spikes[start:start + BATCH], np.float32)
        batch, steps = x.shape[:2]
        feed = {}
        for i, (y_in, s_in, _, _) in enumerate(names):
            feed[y_in] = feed[s_in] = np.zeros((batch, units[i]), np.float32)
        if graph == "step":
            outputs = [n for y_in, s_in, y_out, s_out in names for n in (y_out, s_out)]
            sequences = {i: np.zeros((batch, steps, u), np.float32) for i, u in enumerate(units)}
            for t in range(steps):
                result = dict(zip(outputs, sess.run(outputs, {INPUT_NAME: x[:, t], **feed})))
                for i, (y_in, s_in, y_out, s_out) in enumerate(names):
                    feed[y_in], feed[s_in] = result[y_out], result[s_out]
                    sequences[i][:, t] = result[y_out]
            states = [(feed[y_in], feed[s_in]) for y_in, s_in, _, _ in names]
            rates = sequences[n_layers - 1].mean(axis=1)
        else:
            outputs = [SPIKES_NAME, RATES_NAME] + [n for _, _, y_out, s_out in names for n in (y_out, s_out)]
            result = dict(zip(outputs, sess.run(outputs, {INPUT_NAME: x, **feed})))
            sequences = {n_layers - 1: result[SPIKES_NAME]}
            states = [(result[y_out], result[s_out]) for _, _, y_out, s_out in names]
            rates = result[RATES_NAME]
        per_chunk.append((sequences, states, rates))
    keys = per_chunk[0][0].keys()
    return OnnxResult(
        sequences={k: np.concatenate([c[0][k] for c in per_chunk]) for k in keys},
        states=[tuple(np.concatenate([c[1][i][j] for c in per_chunk]) for j in range(2)) for i in range(n_layers)],
        rates=np.concatenate([c[2] for c in per_chunk]), provider=sess.get_providers()[0])


def _agree(a: np.ndarray, b: np.ndarray, soft: bool, gates: Gates) -> np.ndarray:
    return np.abs(a - b) <= gates.soft_atol if soft else a == b


def compare(ref: Reference, result: OnnxResult, gates: Gates, labels: np.ndarray | None = None) -> dict:
    """The values part of a report (see the module docstring)."""
    equal, total, per_layer = 0, 0, {}
    last = len(ref.states) - 1
    for i, (y_tf, _) in enumerate(ref.states):
        checks = [_agree(result.states[i][0], y_tf, ref.soft[i], gates)]
        if i in result.sequences:
            checks.append(_agree(result.sequences[i], ref.sequences[i], ref.soft[i], gates))
        layer_equal, layer_total = sum(int(c.sum()) for c in checks), sum(c.size for c in checks)
        per_layer[f"l{i}"] = layer_equal / layer_total
        equal, total = equal + layer_equal, total + layer_total
    deltas = {}
    for i, ((y_tf, s_tf), (y_ort, s_ort)) in enumerate(zip(ref.states, result.states)):
        deltas[f"l{i}_y"] = float(np.max(np.abs(y_tf - y_ort), initial=0.0))
        deltas[f"l{i}_s"] = float(np.max(np.abs(s_tf - s_ort), initial=0.0))
    tf_pred, onnx_pred = ref.rates.argmax(axis=1), result.rates.argmax(axis=1)
    report = {
        "samples": int(len(ref.rates)),
        "timesteps": int(ref.sequences[0].shape[1]),
        "provider": result.provider,
        "compared": "every layer's y at every step" if len(result.sequences) == len(ref.states)
        else "output spikes at every step and every layer's final y",
        "spike_agreement": equal / total,
        "spike_agreement_per_layer": per_layer,
        "max_state_delta": max(deltas.values()),
        "max_state_delta_per_state": deltas,
        "max_rate_delta": float(np.max(np.abs(ref.rates - result.rates), initial=0.0)),
        "prediction_agreement": float(np.mean(tf_pred == onnx_pred)),
        "mean_output_spikes_per_sample": float(result.sequences[last].sum() / len(ref.rates)),
    }
    if labels is not None:
        report["tf_accuracy"] = float(np.mean(tf_pred == labels))
        report["onnx_accuracy"] = float(np.mean(onnx_pred == labels))
    return report


def gate_failures(report: dict, gates: Gates) -> list[str]:
    failures = []
    if report["prediction_agreement"] < gates.prediction_agreement:
        failures.append(f"prediction agreement {report['prediction_agreement']:.6f} < {gates.prediction_agreement}")
    if report["spike_agreement"] < gates.spike_agreement:
        failures.append(f"spike agreement {report['spike_agreement']:.6f} < {gates.spike_agreement}")
    if gates.max_state_delta is not None and report["max_state_delta"] > gates.max_state_delta:
        failures.append(f"max |Δ state| {report['max_state_delta']:.3g} > {gates.max_state_delta}")
    return failures


def validate_graph(model: onnx.ModelProto, graph: str, ref: Reference, spikes: np.ndarray, units: list[int],
                   gates: Gates, labels: np.ndarray | None = None) -> dict:
    """Validate one graph against ``ref``; returns the report (``passed``, ``failures`` included)."""
    report = {"graph": graph, "gates": dataclasses.asdict(gates)}
    want_in, want_out = expected_names(graph, len(units))
    sess = session(model)
    got_in, got_out = [i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()]
    missing = sorted(set(want_in) - set(got_in)) + sorted(set(want_out) - set(got_out))
    if missing:
        report.update(passed=False, failures=[f"missing inputs/outputs: {missing}"])
        return report
    try:
        result = run_onnx(sess, graph, units, spikes)
    except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own exception types; report them
        report.update(passed=False, failures=[f"ONNX Runtime failed: {type(e).__name__}: {e}"])
        return report
    shape_failures = [f"l{i} final y is {result.states[i][0].shape}, expected {ref.states[i][0].shape}"
                      for i in range(len(units)) if result.states[i][0].shape != ref.states[i][0].shape]
    shape_failures += [f"l{i} spikes are {seq.shape}, expected {ref.sequences[i].shape}"
                       for i, seq in result.sequences.items() if seq.shape != ref.sequences[i].shape]
    if shape_failures:
        report.update(passed=False, failures=shape_failures)
        return report
    report.update(compare(ref, result, gates, labels))
    failures = gate_failures(report, gates)
    report.update(passed=not failures, failures=failures)
    return report


def validate(models: dict, ref: Reference, spikes: np.ndarray, units: list[int], gates: Gates,
             labels: np.ndarray | None = None, raise_on_failure: bool = True) -> dict:
    """Validate ``{graph: ModelProto}``; return ``{graph: report}``, raising when a graph fails."""
    reports = {graph: validate_graph(model, graph, ref, spikes, units, gates, labels)
               for graph, model in models.items()}
    failed = {graph: r["failures"] for graph, r in reports.items() if not r["passed"]}
    if failed and raise_on_failure:
        detail = "; ".join(f"{graph}: {', '.join(f)}" for graph, f in failed.items())
        raise ValidationError(f"Export does not match TensorFlow ({detail}).", report=reports)
    return reports
