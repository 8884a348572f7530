"""Errors snudeploy raises on purpose.

Every error derives from :class:`SnudeployError`; each also derives from the builtin
that describes it (``ValueError``, ``TypeError``, ``KeyError``, ...), so callers can catch
narrowly or broadly. The CLI maps them to exit codes in one table
(:data:`snudeploy.cli.main.EXIT_CODES`): any ``SnudeployError`` is one line on stderr and
exit code 2; anything else is a bug and exits 1.
"""


class SnudeployError(Exception):
    """Base of every error snudeploy raises on purpose."""


class ConfigurationError(SnudeployError, ValueError):
    """An argument, flag or spec value is invalid or beyond its limit."""


class DatasetError(SnudeployError, ValueError):
    """A dataset cannot be found, read or understood."""


class InputShapeError(SnudeployError, ValueError):
    """An input array has the wrong rank or width."""


class InputDTypeError(SnudeployError, TypeError):
    """An input array has a non-numeric dtype."""


class InputValueError(SnudeployError, ValueError):
    """An input array holds NaN or Inf, or values the model cannot take (or would make its state so)."""


class UnknownStreamError(SnudeployError, KeyError):
    """A stream id is unknown, closed or repeated."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelFileError(SnudeployError, ValueError):
    """A file is missing, corrupt, untrusted, or not a snudeploy model/checkpoint."""


class ExportError(SnudeployError, RuntimeError):
    """An export could not be produced."""


class ValidationError(SnudeployError, RuntimeError):
    """An export does not match its reference within its format's gates."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}


class ProviderError(SnudeployError, RuntimeError):
    """A requested execution provider cannot be used."""


class InferenceError(SnudeployError, RuntimeError):
    """ONNX Runtime failed while running a model (the call changed no state)."""


class RunTimeoutError(InferenceError, TimeoutError):
    """A call ran past its time limit and was stopped (the call changed no state)."""


class OutputError(SnudeployError, OSError):
    """An output location cannot be written; the previous file, if any, is intact."""


class ServingError(SnudeployError, RuntimeError):
    """A serving engine cannot be configured, started or reached."""


class MissingExtraError(SnudeployError, ImportError):
    """A feature needs an optional extra (``pip install '.[train]'`` and the like) that is not installed."""
