"""Execution providers and ONNX Runtime sessions: the one place a session is created.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on machines with no
GPU or no CUDA libraries; requesting it there makes ONNX Runtime log library-load errors
before it falls back to CPU. So CUDA is requested only after checking that the NVIDIA
driver sees a device and that ONNX Runtime's CUDA provider library can load; otherwise the
session runs on CPU and one :class:`ProviderFallbackWarning` says why.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from .. import arguments
from ..errors import ConfigurationError, ModelFileError, ProviderError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDERS = {"cpu": CPU, "cuda": CUDA}  # short name -> ONNX Runtime provider (CLI, bench, tables)
CHOICES = (*PROVIDERS, "auto")
SHORT_NAMES = {name: short for short, name in PROVIDERS.items()}
_NEEDS_CUDA = (CUDA, "TensorrtExecutionProvider", "NvTensorRTRTXExecutionProvider")
OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
QUIET = 4  # ONNX Runtime log severity: fatal only; errors become typed exceptions instead
LOAD_ERRORS = (ort_errors.Fail, ort_errors.InvalidArgument, ort_errors.InvalidGraph, ort_errors.InvalidProtobuf,
               ort_errors.NoSuchFile, ort_errors.NotImplemented, ort_errors.RuntimeException)


class ProviderFallbackWarning(RuntimeWarning):
    """A GPU provider was asked for but the session runs on CPU."""


@dataclass(frozen=True)
class SessionSettings:
    """How to build a session.

    Attributes:
        providers: "cpu", "cuda" (CUDA, else CPU with a warning), "auto" (CUDA when usable,
            silently CPU otherwise), or a list of ONNX Runtime provider names.
        threads: intra-op threads; None leaves ONNX Runtime's default (all cores).
        optimization: graph optimization level: disable, basic, extended or all.
        spinning: let idle intra-op threads spin (ONNX Runtime's default); False saves CPU
            between calls at a small latency cost when threads > 1.
        strict: a named provider that cannot run is an error instead of a CPU fallback.
    """
    providers: str | tuple[str, ...] = "cpu"
    threads: int | None = None
    optimization: str = "all"
    spinning: bool = True
    strict: bool = False

    def __post_init__(self):
        if self.threads is not None:
            arguments.limited(self.threads, "threads", "threads")
        arguments.choice(self.optimization, "graph_optimization_level", OPTIMIZATION_LEVELS)
        if isinstance(self.providers, list):
            object.__setattr__(self, "providers", tuple(self.providers))


def create_session(payload: str | bytes, settings: SessionSettings, source: str,
                   disabled_optimizers=()) -> ort.InferenceSession:
    """An ONNX Runtime session for ``payload`` (a path or serialized bytes).

    Raises:
        ProviderError: the provider cannot start, or (``strict``) is not the one running.
        ModelFileError: ONNX Runtime cannot load the model.
    """
    requested = resolve(settings.providers, strict=settings.strict)
    options = ort.SessionOptions()
    if settings.threads is not None:
        options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = OPTIMIZATION_LEVELS[settings.optimization]
    options.log_severity_level = QUIET
    if not settings.spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # ORT prints an "EP Error" banner before it retries
            session = ort.InferenceSession(payload, options, providers=requested,
                                           disabled_optimizers=list(disabled_optimizers))
    except ort_errors.EPFail as e:
        raise ProviderError(f"ONNX Runtime cannot start provider(s) {requested}: {_first_line(e)}") from None
    except UnicodeError:  # ONNX Runtime's message quoted a name that is not valid UTF-8
        raise ModelFileError(f"ONNX Runtime cannot load {source}: it holds names that are not valid UTF-8.") from None
    except LOAD_ERRORS + (ValueError,) as e:
        raise ModelFileError(f"ONNX Runtime cannot load {source}: {_first_line(e)}") from None
    running = session.get_providers()[0]
    if running != requested[0]:
        if settings.strict:
            raise ProviderError(f"{source}: asked ONNX Runtime for {requested[0]}, but it runs {running}.")
        warnings.warn(f"Asked ONNX Runtime for {requested[0]}, but it runs {running}.", ProviderFallbackWarning,
                      stacklevel=3)
    return session


def resolve(providers, strict: bool = False) -> list[str]:
    """The ONNX Runtime provider list to request for ``providers`` (see :class:`SessionSettings`).

    Raises:
        ConfigurationError: an unknown choice or provider name.
        ProviderError: a known provider that this onnxruntime build does not include, or
            (``strict``) CUDA that cannot run here.
    """
    if isinstance(providers, str):
        choice = providers.lower()
        if choice not in CHOICES:
            raise ConfigurationError(f"Received an invalid value for argument `providers`, expected one of "
                                     f"{', '.join(CHOICES)} or a list of ONNX Runtime provider names, "
                                     f"got {providers!r}.")
        if choice == "cpu":
            return [CPU]
        reason = cuda_unavailable_reason()
        if reason is None:
            return [CUDA, CPU]
        if choice == "cuda":
            if strict:
                raise ProviderError(f"Provider cuda is not available: {reason}.")
            _warn_fallback(reason)
        return [CPU]
    if not isinstance(providers, (list, tuple)) or not providers or not all(isinstance(p, str) for p in providers):
        raise ConfigurationError("Received an invalid value for argument `providers`, expected "
                                 f"'cpu', 'cuda', 'auto' or a non-empty list of provider names, got {providers!r}.")
    unknown = [p for p in providers if p not in ort.get_all_providers()]
    if unknown:
        raise ConfigurationError(f"Unknown ONNX Runtime provider(s) {unknown}; known: {ort.get_all_providers()}.")
    missing = [p for p in providers if p not in ort.get_available_providers()]
    if missing:
        raise ProviderError(f"Provider(s) {missing} are not in this onnxruntime build; "
                            f"available: {ort.get_available_providers()}.")
    wanted = list(providers)
    gpu = [p for p in wanted if p in _NEEDS_CUDA]
    reason = cuda_unavailable_reason() if gpu else None
    if reason is not None:
        if strict:
            raise ProviderError(f"Provider(s) {gpu} cannot run here: {reason}.")
        _warn_fallback(reason)
        wanted = [p for p in wanted if p not in _NEEDS_CUDA]
    return wanted if CPU in wanted else wanted + [CPU]


@functools.cache
def cuda_unavailable_reason() -> str | None:
    """Why ONNX Runtime's CUDA provider cannot run in this process, or None when it can."""
    if CUDA not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA provider (install onnxruntime-gpu: see docs/install.md)"
    try:
        driver = ctypes.CDLL("nvcuda.dll" if os.name == "nt" else "libcuda.so.1")
    except OSError:
        return "no NVIDIA driver was found (libcuda cannot be loaded)"
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return "the NVIDIA driver reports no usable GPU"
    for library in (Path(ort.__file__).parent / "capi").glob("*onnxruntime_providers_cuda*"):
        try:
            ctypes.CDLL(str(library))
        except OSError as e:
            return f"ONNX Runtime's CUDA provider cannot load its CUDA libraries ({e})"
    return None


def device_type(provider: str) -> str:
    """Where the state buffers of the IOBinding fast path live for ``provider``."""
    return "cuda" if provider == CUDA else "cpu"


def _warn_fallback(reason: str) -> None:
    warnings.warn(f"CUDA was requested but {reason}; running on {CPU} instead.", ProviderFallbackWarning,
                  stacklevel=5)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
