"""Quantization-aware fine-tuning of SNU kernels with tensorflow-model-optimization.

tfmot works only with tf-keras (Keras 2), and ``TF_USE_LEGACY_KERAS=1`` must be set
before TensorFlow is first imported, so :func:`finetune` always runs the work in a child
Python process (``python -m snudeploy.quantization.qat``) with that variable set; the
same layer code runs there under tf-keras.

``quantize_model`` rejects ``RNN`` layers, so each SNU layer is annotated with
:class:`SNUQuantizeConfig`, which fake-quantises the cell's kernel (and recurrent kernel)
to 8-bit symmetric narrow range per tensor; thresholds, states and spikes stay float.
The result is saved as an ordinary checkpoint whose kernels lie on the int8 grid
(``spec.quantization`` records the scales), which every exporter reads unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import tfkeras_child
from ..errors import ConfigurationError

BITS = 8


def finetune(checkpoint, out, epochs: int = 1, lr: float | None = None, limit: int | None = None,
             data=None) -> Path:
    """Fine-tune ``checkpoint`` with fake-quantised kernels; write the QAT checkpoint to ``out``."""
    args = [str(checkpoint), str(out), "--epochs", str(epochs)]
    for flag, value in (("--lr", lr), ("--limit", limit), ("--data", data)):
        if value is not None:
            args += [flag, str(value)]
    tfkeras_child.run("snudeploy.quantization.qat", args, "QAT fine-tuning")
    return Path(out)


def _quantize_config_class():
    import tensorflow_model_optimization as tfmot

    quant = tfmot.quantization.keras

    class SNUQuantizeConfig(quant.QuantizeConfig):
        """Fake-quantise an SNU RNN layer's kernels: 8-bit, symmetric, narrow range, per tensor."""

        def get_weights_and_quantizers(self, layer):
            cell = layer.cell
            kernels = [cell.kernel] + ([cell.recurrent_kernel] if cell.recurrent else [])
            return [(k, quant.quantizers.LastValueQuantizer(num_bits=BITS, symmetric=True, narrow_range=True,
                                                            per_axis=False)) for k in kernels]

        def get_activations_and_quantizers(self, layer):
            return []  # spikes are 0/1 already; thresholds and states stay float

        def set_quantize_weights(self, layer, quantize_weights):
            layer.cell.kernel = quantize_weights[0]
            if layer.cell.recurrent:
                layer.cell.recurrent_kernel = quantize_weights[1]

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    return SNUQuantizeConfig


def _on_grid(kernel):
    """Fake-quantise ``kernel`` to the symmetric narrow-range int8 grid; return (values, scale).

    The scale is ``max|kernel| / 127``, as tfmot's ``LastValueQuantizer`` computes it in
    training (its stored range lags one optimizer step behind). The largest weight thus
    lands on +-127, so ONNX Runtime's symmetric weight quantizer derives the same scale
    from the exported values and reproduces this grid exactly.
    """
    import numpy as np

    levels = 2 ** (BITS - 1) - 1
    scale = float(np.max(np.abs(kernel))) / levels
    q = np.clip(np.round(kernel / scale), -levels, levels)
    return (q * scale).astype(np.float32), scale


def _main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m snudeploy.quantization.qat")
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data")
    _run(parser.parse_args(argv))


def _run(args) -> None:
    import dataclasses

    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    from .. import datasets
    from ..checkpoint import build_model, legacy_keras, load_checkpoint, save_checkpoint
    from ..layers import SNUCell
    from ..spec import ModelSpec
    from ..training import batches, compile_model, evaluate, versions

    if not legacy_keras():
        raise ConfigurationError("QAT needs tf-keras: set TF_USE_LEGACY_KERAS=1 before TensorFlow is imported.")
    quant = tfmot.quantization.keras
    spec = ModelSpec.load(args.checkpoint)
    model = load_checkpoint(args.checkpoint)
    x_train, y_train, x_test, y_test = datasets.load(spec.dataset, args.data)
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    train_spikes, test_spikes = spec.encoding.encode(x_train, "train"), spec.encoding.encode(x_test, "test")

    config_class = _quantize_config_class()
    with quant.quantize_scope({"SNUQuantizeConfig": config_class, "SNUCell": SNUCell}):
        annotated = tf.keras.models.clone_model(model, clone_function=lambda layer: quant.quantize_annotate_layer(
            layer, quantize_config=config_class()) if layer.name.startswith("snu_") else layer)
        annotated.set_weights(model.get_weights())
        qat_model = quant.quantize_apply(annotated)
    recipe = dataclasses.replace(spec.recipe, epochs=args.epochs, lr=args.lr or spec.recipe.lr * 0.1,
                                 schedule="constant")
    compile_model(qat_model, recipe)
    tf.keras.utils.set_random_seed(recipe.seed)
    qat_model.fit(batches(train_spikes, y_train, spec.classes, recipe.batch_size, True, recipe.seed),
                  epochs=recipe.epochs, verbose=2)

    # Copy the trained weights, on the int8 grid, into a plain model: exporters need no tfmot.
    plain = build_model(spec)
    scales = {}
    for layer in plain.layers:
        if not layer.name.startswith("snu_"):
            continue
        wrapper = qat_model.get_layer(f"quant_{layer.name}")
        trained = {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in wrapper.weights}
        kernel, scales[f"{layer.name}/kernel"] = _on_grid(trained["kernel"])
        values = [kernel]
        if layer.cell.recurrent:
            recurrent, scales[f"{layer.name}/recurrent_kernel"] = _on_grid(trained["recurrent_kernel"])
            values.append(recurrent)
        values.append(trained["threshold"])
        layer.set_weights(values)
    quantized_spec = dataclasses.replace(spec, recipe=recipe, quantization={
        "method": "qat", "bits": BITS, "weights": "int8 symmetric narrow-range per-tensor",
        "scales": scales, "parent": str(Path(args.checkpoint).resolve()),
        "parent_test_accuracy": spec.metrics.get("test_accuracy")})
    metrics = evaluate(compile_model(plain, recipe), quantized_spec, test_spikes, y_test)
    metrics["versions"] = versions()
    save_checkpoint(plain, quantized_spec.replace(metrics=metrics), args.out, metrics)


if __name__ == "__main__":
    sys.exit(tfkeras_child.main(_main))
