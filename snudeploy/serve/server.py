"""Running the ``tritonserver`` binary of the nvidia-pytriton wheel on a model repository.

The wheel (the ``[serve]`` extra) ships Triton Inference Server 2.51 with the Python
backend, its shared libraries, and one Python-backend stub per Python version. PyTriton's
own API does not expose the sequence batcher, so :class:`TritonServer` starts the binary
itself:

* a backend directory (a temporary copy of the wheel's ``backends/``) whose ``python/``
  holds the stub of the running interpreter's version;
* ``LD_LIBRARY_PATH`` with the wheel's libraries and this interpreter's ``libpython``, and
  this interpreter's ``bin`` first on ``PATH``, so the stub runs with this environment's
  packages (snudeploy and numpy < 2 included);
* gRPC, HTTP and metrics on ``host`` (loopback by default); a port of 0 takes a free one.

It waits until ``/v2/health/ready`` answers (every model loaded), and stops the server
with SIGTERM (Triton finishes in-flight requests), then SIGKILL after a grace period.
Failures are one :class:`~snudeploy.errors.ServingError` line: wrong platform or glibc
older than the wheel's 2.35, a port in use, the server exiting during start-up (with the
error lines of its log), or no readiness in time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServingError
from ..extras import require

GLIBC = (2, 35)  # the wheel is manylinux_2_35_x86_64
DEFAULT_PORTS = {"grpc": 8001, "http": 8000, "metrics": 8002}  # Triton's own defaults
STOP_GRACE = 10.0


@dataclass(frozen=True)
class Endpoints:
    """Where a started server listens."""
    host: str
    grpc: int
    http: int
    metrics: int

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http}"

    def describe(self) -> str:
        return (f"gRPC {self.grpc_url}  HTTP {self.http_url}  metrics http://{self.host}:{self.metrics}/metrics")


def check_platform() -> None:
    """Raise :class:`ServingError` unless the wheel's server can run here (Linux x86-64, glibc >= 2.35)."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise ServingError(f"The nvidia-pytriton wheel's Triton runs on Linux x86-64 only (this is {sys.platform} "
                           f"{platform.machine()}); run Triton's NGC container instead (docs/serving.md).")
    name, _, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")
    found = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if name != "glibc" or found < GLIBC:
        raise ServingError(f"The nvidia-pytriton wheel's Triton needs glibc >= {GLIBC[0]}.{GLIBC[1]}, this system "
                           f"has {name or 'no glibc'} {version}; run Triton's NGC container instead "
                           "(docs/serving.md).")


class TritonServer:
    """One ``tritonserver`` process serving ``repository``; a context manager that always stops it.

    Args:
        repository: a Triton model repository (e.g. ``Repository.path("python")``).
        host: address to listen on (``127.0.0.1``: this machine only).
        grpc_port, http_port, metrics_port: ports; 0 picks a free one.
        timeout: seconds to wait for readiness (model loading starts a Python process per instance).
    """

    def __init__(self, repository, host: str = "127.0.0.1", grpc_port: int = 0, http_port: int = 0,
                 metrics_port: int = 0, timeout: float = 120.0):
        self.repository = Path(repository)
        self.host = host
        self._ports = {"grpc": grpc_port, "http": http_port, "metrics": metrics_port}
        self.timeout = timeout
        self.endpoints: Endpoints | None = None
        self.version: str | None = None  # Triton's, once started
        self.log: Path | None = None
        self._process: subprocess.Popen | None = None
        self._scratch: Path | None = None

    def __enter__(self) -> "TritonServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The ``tritonserver`` process id while it runs (its model instances' Python stubs are its children)."""
        return self._process.pid if self.running else None

    def start(self) -> Endpoints:
        """Start the server and wait until it is ready; raise :class:`ServingError` when it cannot."""
        check_platform()
        require("serve", "Serving on Triton")
        if not self.repository.is_dir():
            raise ServingError(f"Model repository {self.repository} does not exist.")
        binary, backends, libraries, stub = _wheel_files()
        ports = free_ports(self.host, self._ports)
        self._scratch = Path(tempfile.mkdtemp(prefix="snudeploy-triton-"))
        try:
            shutil.copytree(backends, self._scratch / "backends")
            shutil.copy2(stub, self._scratch / "backends" / "python" / stub.name)
            self.log = self._scratch / "tritonserver.log"
            command = [str(binary), f"--model-repository={self.repository.resolve()}",
                       f"--backend-directory={self._scratch / 'backends'}",
                       f"--http-address={self.host}", f"--http-port={ports['http']}",
                       f"--grpc-address={self.host}", f"--grpc-port={ports['grpc']}",
                       f"--metrics-address={self.host}", f"--metrics-port={ports['metrics']}",
                       "--allow-gpu-metrics=false", "--pinned-memory-pool-byte-size=0", "--exit-timeout-secs=5"]
            with open(self.log, "wb") as log:
                self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL, env=_environment(libraries),
                                                 start_new_session=True)
            self.endpoints = Endpoints(self.host, ports["grpc"], ports["http"], ports["metrics"])
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def wait(self, seconds: float | None = None) -> None:
        """Block until the server exits, or ``seconds`` pass; raise :class:`ServingError` if it died."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while self.running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.2)
        if self._process is not None and not self.running:
            raise ServingError(f"Triton exited with code {self._process.returncode}: {self._log_errors()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period) and remove its scratch folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        url = f"{self.endpoints.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServingError(f"Triton exited during start-up (code {self._process.returncode}): "
                                   f"{self._log_errors()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        with urllib.request.urlopen(f"{self.endpoints.http_url}/v2", timeout=1) as about:
                            self.version = json.load(about).get("version")
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ServingError(f"Triton was not ready after {self.timeout:g} s: {self._log_errors()}")

    def _log_errors(self) -> str:
        """The error lines of the server's log, shortened to one line."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except (OSError, AttributeError):
            return "no log"
        errors = [line for line in lines if line.startswith("E") or "error" in line.lower()]
        text = " | ".join(errors[-3:] or lines[-3:]) or "empty log"
        if "Address already in use" in text or "address in use" in text.lower():
            text = "a port is taken (another server?): " + text
        return text[:600]


def _wheel_files() -> tuple[Path, Path, Path, Path]:
    """The wheel's tritonserver binary, backends folder, libraries folder, and this Python's stub."""
    spec = importlib.util.find_spec("pytriton")
    root = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    binary, backends = root / "bin" / "tritonserver", root / "backends"
    libraries = root.parent.parent / "nvidia_pytriton.libs"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    for path, what in ((binary, "tritonserver binary"), (backends, "backends folder"), (libraries, "libraries")):
        if not path.exists():
            raise ServingError(f"The nvidia-pytriton installation has no {what} at {path}; reinstall the "
                               "[serve] extra.")
    if not stub.is_file():
        raise ServingError(f"The nvidia-pytriton wheel has no Python-backend stub for Python {version}; use a "
                           "Python it supports (3.8-3.13).")
    return binary, backends, libraries, stub


def _environment(libraries: Path) -> dict:
    """The server's environment: the wheel's libraries, this Python's libpython, this Python's ``bin`` first."""
    env = dict(os.environ)
    paths = [str(libraries)]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        paths.append(sysconfig.get_config_var("LIBDIR"))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(paths + [p for p in [env.get("LD_LIBRARY_PATH")] if p])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def free_ports(host: str, wanted: dict[str, int]) -> dict[str, int]:
    """The ports to use: each wanted one if free on ``host``, a free one for 0; :class:`ServingError` if taken.

    The probe sockets stay open until all are bound, so two zeros never get the same port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.ExitStack() as stack:
        ports = {}
        for kind, port in wanted.items():
            probe = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            try:
                probe.bind((host, port))
            except OSError as e:
                raise ServingError(f"Cannot listen for {kind} on {host}:{port} ({e.strerror or e}): the port is "
                                   f"taken or the address is not this machine's; pass another --{kind}-port, or 0 "
                                   "for a free one.") from None
            ports[kind] = probe.getsockname()[1]
        return ports
