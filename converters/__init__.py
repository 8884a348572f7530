"""TensorFlow/Keras SNU checkpoints to ONNX: ``step``, ``unrolled``, ``loop``, ``customop``.

``export(checkpoint, format, path)`` builds the format's graph(s), checks them, validates
them against TensorFlow on encoded test data, and only then writes them with their
metadata. Importing this package is cheap: TensorFlow, tf2onnx and ONNX Runtime are
imported by the functions that need them.

Example::

    from snudeploy.converters import export
    export("runs/digits", "step", "models/digits")      # -> models/digits/step.onnx
"""

from __future__ import annotations

from .formats import DEFAULT_OPSET, Format, Gates, get as get_format, names as format_names

__all__ = ["export", "export_files", "validate", "Format", "Gates", "get_format", "format_names", "DEFAULT_OPSET"]


def export(checkpoint, format, path, timesteps=None, opset=DEFAULT_OPSET, dataset=None, samples=256, force=False):
    """See :func:`snudeploy.converters.exporter.export`."""
    from .exporter import export as _export
    return _export(checkpoint, format, path, timesteps=timesteps, opset=opset, dataset=dataset,
                   samples=samples, force=force)


def export_files(checkpoint, format, path, timesteps=None, opset=DEFAULT_OPSET, dataset=None, samples=256,
                 force=False):
    """See :func:`snudeploy.converters.exporter.export_files`."""
    from .exporter import export_files as _export_files
    return _export_files(checkpoint, format, path, timesteps=timesteps, opset=opset, dataset=dataset,
                         samples=samples, force=force)


def validate(models, reference, spikes, units, gates, labels=None, raise_on_failure=True):
    """See :func:`snudeploy.converters.validation.validate`."""
    from .validation import validate as _validate
    return _validate(models, reference, spikes, units, gates, labels, raise_on_failure)
