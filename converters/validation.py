"""Parity of an exported graph against TensorFlow (separate from export, Optimum-style).

TensorFlow side (:func:`reference`): the network's Keras layers, its SNU layers returning
their states (dense cells inside Keras ``RNN`` layers with ``return_state``), give every
stateful layer's spikes at every step and the final states; the Keras model itself gives the
mean output rates (predictions).

ONNX side: the graph, with its metadata, goes through the runtime like any model
(:func:`snudeploy.runtime.load_model` checks it, :func:`snudeploy.runtime.rollout` runs it
from zero states on the CPU provider): a step graph is rolled T times, so every layer's
``y`` is seen at every step; a sequence graph gives the output layer's spikes at every
step and every layer's final states.

:func:`compare` checks shapes, then values, and reports spike agreement (the fraction of
equal spikes over everything compared), max |Δ state| over the final states, and
prediction agreement (argmax of the mean output rate). :func:`validate` raises one
:class:`~snudeploy.errors.ValidationError` carrying every report when a graph misses its
gates. Non-finite values on either side fail validation: two NaN models agree perfectly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import onnx

from ..errors import ModelFileError, SnudeployError, ValidationError
from ..kinds import LeakyIntegrator
from ..readouts import Readout
from ..runtime import Engine, Rollout, SessionSettings, rollout
from ..runtime.rollout import blocks
from .formats import Gates

BATCH = 256  # samples per TensorFlow / ONNX Runtime call


@dataclass(frozen=True)
class Reference:
    """TensorFlow's results on the validation spikes, per stateful layer (by its index in the network)."""
    spikes: dict             # layer -> its output at every step [N, T, *shape]
    states: dict             # layer -> {state kind: final value [N, *shape]} (y, s; or v)
    rates: np.ndarray        # the readout's scores of the Keras model's output [N, C]
    soft: dict               # layer -> "spike" (0/1), "soft" (sigmoid) or "value" (a leaky integrator's membrane)

    def finite(self) -> bool:
        arrays = [*self.spikes.values(), *(a for kinds in self.states.values() for a in kinds.values()), self.rates]
        return all(np.isfinite(a).all() for a in arrays)


def reference(model, network, spikes: np.ndarray, readout: Readout = Readout()) -> Reference:
    """Run TensorFlow on ``spikes`` [N, T, *input] (uint8 or float): every layer of ``network`` (read from
    ``model``) with its states returned, and ``model`` itself for the rates."""
    import tensorflow as tf

    from .tfgraph import stateful_runner

    runners = {i: stateful_runner(layer) for i, layer in network.stateful()}

    # One trace: the batch may vary, T and the input shape stay static (a user's TimeDistributed layers need T).
    @tf.function(input_signature=[tf.TensorSpec([None, *spikes.shape[1:]], tf.float32)])
    def run(x):
        h, out = x, {}
        for i, layer in enumerate(network.layers):
            if i in runners:
                zeros = tf.zeros(tf.concat([tf.shape(x)[:1], layer.output_shape], 0))
                h, *final = runners[i](h, *[zeros] * len(layer.spec.STATES))
                out[i] = (h, *final)
            else:
                h = layer.keras(h, training=False)
        rates = model(x, training=False)
        return out, rates if len(rates.shape) == 2 else tf.reduce_mean(rates, axis=1)  # a model without a readout

    chunks = []
    for start in range(0, len(spikes), BATCH):
        x = tf.constant(np.asarray(spikes[start:start + BATCH], np.float32))
        layers, rates = run(x)
        chunks.append(({i: tuple(t.numpy() for t in layer) for i, layer in layers.items()}, rates.numpy()))
    cat = lambda i, k: np.concatenate([c[0][i][k] for c in chunks])  # noqa: E731
    rates = np.concatenate([c[1] for c in chunks])
    if readout.kind == "spike_count":  # the Keras model sums spikes (logits); scores are mean rates
        rates = rates / spikes.shape[1]
    return Reference(spikes={i: cat(i, 0) for i in runners},
                     states={i: {kind: cat(i, k + 1) for k, kind in enumerate(network.layers[i].spec.STATES)}
                             for i in runners},
                     rates=rates, soft={i: _output(layer.spec) for i, layer in network.stateful()})


def _output(spec) -> str:
    return "value" if isinstance(spec, LeakyIntegrator) else "spike" if spec.spiking else "soft"


def _agree(a: np.ndarray, b: np.ndarray, soft: str, gates: Gates) -> np.ndarray:
    if soft == "value":
        return np.isclose(a, b, rtol=gates.value_rtol, atol=gates.soft_atol)
    return np.abs(a - b) <= gates.soft_atol if soft == "soft" else a == b


def compare(ref: Reference, result: Rollout, engine: Engine, gates: Gates, labels: np.ndarray | None = None) -> dict:
    """The values part of a report (see the module docstring)."""
    tally = Tally()
    tally.add(ref, result, engine, gates)
    return tally.report(labels)


class Tally:
    """A report's values summed over blocks of samples: agreement counts, largest deltas, predictions."""

    def __init__(self):
        self.per_layer: dict[str, list[int]] = {}   # layer -> [equal, compared]
        self.deltas: dict[str, float] = {}
        self.rate_delta = 0.0
        self.predictions: list[tuple[np.ndarray, np.ndarray]] = []
        self.output_spikes, self.timesteps, self.compared, self.provider = 0.0, 0, "", ""

    def add(self, ref: Reference, result: Rollout, engine: Engine, gates: Gates) -> None:
        """Count one block: ``ref`` and ``result`` on the same samples."""
        info = engine.info
        final = {}  # layer -> (y, s) of the ONNX side
        for s in info.states:
            final.setdefault(s.layer, {})[s.kind] = result.states[s.input]
        for i, states_tf in ref.states.items():
            output = next(iter(states_tf))  # the state that is the layer's output (y; v)
            checks = [_agree(final[i][output], states_tf[output], ref.soft[i], gates)]
            if i in result.spikes:
                checks.append(_agree(result.spikes[i], ref.spikes[i], ref.soft[i], gates))
            counts = self.per_layer.setdefault(f"l{i}", [0, 0])
            counts[0] += sum(int(c.sum()) for c in checks)
            counts[1] += sum(c.size for c in checks)
            for kind, value in states_tf.items():
                delta = float(np.max(np.abs(value - final[i][kind]), initial=0.0))
                self.deltas[f"l{i}_{kind}"] = max(self.deltas.get(f"l{i}_{kind}", 0.0), delta)
        self.rate_delta = max(self.rate_delta, float(np.max(np.abs(ref.rates - result.rates), initial=0.0)))
        self.predictions.append((ref.rates.argmax(axis=1), result.rates.argmax(axis=1)))
        self.output_spikes += float(result.spikes[len(info.layers) - 1].sum())
        self.timesteps = int(next(iter(ref.spikes.values())).shape[1])
        self.provider = result.provider
        self.compared = "every layer's y at every step" if len(result.spikes) == len(ref.states) \
            else "output spikes at every step and every layer's final y"

    def report(self, labels: np.ndarray | None = None) -> dict:
        tf_pred = np.concatenate([tf for tf, _ in self.predictions])
        onnx_pred = np.concatenate([onnx for _, onnx in self.predictions])
        equal, total = (sum(c[k] for c in self.per_layer.values()) for k in (0, 1))
        report = {
            "samples": int(len(tf_pred)),
            "timesteps": self.timesteps,
            "provider": self.provider,
            "compared": self.compared,
            "spike_agreement": equal / total,
            "spike_agreement_per_layer": {layer: e / n for layer, (e, n) in self.per_layer.items()},
            "max_state_delta": max(self.deltas.values()),
            "max_state_delta_per_state": self.deltas,
            "max_rate_delta": self.rate_delta,
            "prediction_agreement": float(np.mean(tf_pred == onnx_pred)),
            "mean_output_spikes_per_sample": self.output_spikes / len(tf_pred),
        }
        if labels is not None:
            report["tf_accuracy"] = float(np.mean(tf_pred == labels))
            report["onnx_accuracy"] = float(np.mean(onnx_pred == labels))
        return report


def gate_failures(report: dict, gates: Gates) -> list[str]:
    failures = []
    if not np.isfinite(report["max_state_delta"]) or not np.isfinite(report["max_rate_delta"]):
        failures.append("non-finite states or rates")
    if report["prediction_agreement"] < gates.prediction_agreement:
        failures.append(f"prediction agreement {report['prediction_agreement']:.6f} < {gates.prediction_agreement}")
    if report["spike_agreement"] < gates.spike_agreement:
        failures.append(f"spike agreement {report['spike_agreement']:.6f} < {gates.spike_agreement}")
    if gates.max_state_delta is not None and report["max_state_delta"] > gates.max_state_delta:
        failures.append(f"max |Δ state| {report['max_state_delta']:.3g} > {gates.max_state_delta}")
    return failures


def validate(models: dict, reference_of, spikes: np.ndarray, gates: Gates, labels: np.ndarray | None = None,
             raise_on_failure: bool = True) -> dict:
    """Validate ``{graph: ModelProto}`` on ``spikes`` against ``reference_of(block)`` (a :class:`Reference`
    of those samples); return ``{graph: report}`` (each says ``passed`` and why not), raising when a graph
    fails.

    The samples go in :func:`~snudeploy.runtime.rollout.blocks`: TensorFlow's and ONNX Runtime's every
    state at every step are held for one block only, so a conv network validates on a whole test split.
    """
    reports = {graph: {"graph": graph, "gates": dataclasses.asdict(gates)} for graph in models}
    engines, tallies = {}, {graph: Tally() for graph in models}
    for graph, model in models.items():
        try:
            engines[graph] = Engine(model.SerializeToString(), SessionSettings("cpu"))
        except ModelFileError as e:
            reports[graph].update(passed=False, failures=[f"the graph does not load as a snudeploy model: {e}"])
        except SnudeployError as e:
            reports[graph].update(passed=False, failures=[f"ONNX Runtime failed: {e}"])
    for block in blocks(spikes):
        ref = reference_of(block)
        for graph, engine in list(engines.items()):
            failures = _block_failures(ref, engine, block, tallies[graph], gates)
            if failures:
                reports[graph].update(passed=False, failures=failures)
                del engines[graph]
    for graph in engines:
        report = reports[graph]
        report.update(tallies[graph].report(labels))
        failures = gate_failures(report, gates)
        report.update(passed=not failures, failures=failures)
    failed = {graph: r["failures"] for graph, r in reports.items() if not r["passed"]}
    if failed and raise_on_failure:
        detail = "; ".join(f"{graph}: {', '.join(f)}" for graph, f in failed.items())
        raise ValidationError(f"Export does not match TensorFlow ({detail}).", report=reports)
    return reports


def _block_failures(ref: Reference, engine: Engine, block: np.ndarray, tally: Tally, gates: Gates) -> list[str]:
    """Run one block through ``engine`` and count it into ``tally``; what stops validating the graph, if anything."""
    if not ref.finite():
        return ["TensorFlow's reference outputs hold NaN or Inf (check the weights)"]
    try:
        result = rollout(engine, block, BATCH)
    except SnudeployError as e:
        return [f"ONNX Runtime failed: {e}"]
    shape_failures = [f"l{i} spikes are {seq.shape}, expected {ref.spikes[i].shape}"
                      for i, seq in result.spikes.items() if i not in ref.spikes or seq.shape != ref.spikes[i].shape]
    if shape_failures:
        return shape_failures
    tally.add(ref, result, engine, gates)
    return []
