"""The machine and software a benchmark ran on, recorded next to its numbers.

Latency figures mean little without the CPU, the core count, the load and the library
versions. Versions are read from package metadata, so recording them imports neither
TensorFlow nor tf2onnx.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from .. import __version__
from ..runtime import cuda_unavailable_reason

CPUINFO = Path("/proc/cpuinfo")


def describe(ort_threads: list[int] | None = None, tf_threads: dict | None = None) -> dict:
    """The ``environment`` object of the JSON (see :data:`snudeploy.bench.schema.ENVIRONMENT`).

    Args:
        ort_threads: the intra-op thread counts ONNX Runtime sessions ran with.
        tf_threads: TensorFlow's intra-/inter-op settings when TensorFlow ran.
    """
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu_model": cpu_model(),
        "vector_extensions": vector_extensions(),
        "logical_cores": os.cpu_count() or 1,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        "load_average": load,
        "platform": platform.platform(),
        "versions": {"python": sys.version.split()[0], "snudeploy": __version__, "numpy": np.__version__,
                     "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                     "tensorflow": _version("tensorflow"), "tf2onnx": _version("tf2onnx")},
        "available_providers": list(ort.get_available_providers()),
        "cuda": cuda_unavailable_reason(),
        "threads": {"onnxruntime_intra_op": ort_threads, "onnxruntime_inter_op": 1,
                    "tensorflow": tf_threads, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
    }


def cpu_model() -> str:
    """The CPU's model name (first ``model name`` line of /proc/cpuinfo)."""
    try:
        for line in CPUINFO.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass  # not Linux: fall through
    return platform.processor() or platform.machine() or "unknown"


# /proc/cpuinfo flags that decide ONNX Runtime's float and int8 kernels, with their usual names.
EXTENSIONS = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512F", "avx512bw": "AVX-512BW",
              "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8"}


def vector_extensions() -> list[str]:
    """The SIMD extensions of this CPU that matter to ONNX Runtime's kernels (x86; empty elsewhere)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return []
    flags = next((line.partition(":")[2].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [name for flag, name in EXTENSIONS.items() if flag in flags]


def summary(env: dict) -> str:
    """One line for the terminal."""
    load = "/".join(f"{v:g}" for v in env["load_average"]) if env["load_average"] else "n/a"
    v = env["versions"]
    extensions = ", ".join(env.get("vector_extensions") or []) or "no AVX"
    return (f"{env['cpu_model']} ({extensions}), {env['usable_cores']} usable of {env['logical_cores']} cores, "
            f"load {load}; "
            f"onnxruntime {v['onnxruntime']}, numpy {v['numpy']}"
            + (f", tensorflow {v['tensorflow']}" if env["threads"]["tensorflow"] else ""))


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
