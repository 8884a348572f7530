"""Execution providers and session options: what to ask ONNX Runtime for, and only that.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on machines with no
GPU or no CUDA libraries; requesting it there makes ONNX Runtime log library-load errors
before it falls back to CPU. So CUDA is requested only after checking that the NVIDIA
driver sees a device and that ONNX Runtime's CUDA provider library can load; otherwise the
session runs on CPU and one :class:`ProviderFallbackWarning` says why.
"""

from __future__ import annotations

import ctypes
import functools
import os
import warnings
from pathlib import Path

import onnxruntime as ort

from ..errors import ConfigurationError, ProviderError

CHOICES = ("cpu", "cuda", "auto")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_NEEDS_CUDA = (CUDA, "TensorrtExecutionProvider", "NvTensorRTRTXExecutionProvider")
OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class ProviderFallbackWarning(RuntimeWarning):
    """A GPU provider was asked for but the session runs on CPU."""


def resolve(providers: str | list[str] | tuple[str, ...]) -> list[str]:
    """The ONNX Runtime provider list to request for ``providers``.

    Args:
        providers: "cpu", "cuda" (CUDA, else CPU with a warning), "auto" (CUDA when usable,
            silently CPU otherwise) or an explicit list of ONNX Runtime provider names.

    Raises:
        ConfigurationError: an unknown choice or provider name.
        ProviderError: a known provider that this onnxruntime build does not include.
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
        _warn_fallback(reason)
        wanted = [p for p in wanted if p not in _NEEDS_CUDA]
    return wanted if CPU in wanted else wanted + [CPU]


@functools.cache
def cuda_unavailable_reason() -> str | None:
    """Why ONNX Runtime's CUDA provider cannot run in this process, or None when it can."""
    if CUDA not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
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


def session_options(threads: int | None, graph_optimization_level: str) -> ort.SessionOptions:
    """Session options for ``threads`` intra-op threads (None: ONNX Runtime's default)."""
    options = ort.SessionOptions()
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigurationError(f"Received an invalid value for argument `threads`, expected a positive "
                                     f"integer or None, got {threads!r}.")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if graph_optimization_level not in OPTIMIZATION_LEVELS:
        raise ConfigurationError(f"Received an invalid value for argument `graph_optimization_level`, expected "
                                 f"one of {', '.join(OPTIMIZATION_LEVELS)}, got {graph_optimization_level!r}.")
    options.graph_optimization_level = OPTIMIZATION_LEVELS[graph_optimization_level]
    return options


def device_type(provider: str) -> str:
    """Where state buffers of the IOBinding fast path live for ``provider``."""
    return "cuda" if provider == CUDA else "cpu"


def _warn_fallback(reason: str) -> None:
    warnings.warn(f"CUDA was requested but {reason}; running on {CPU} instead.", ProviderFallbackWarning,
                  stacklevel=4)
