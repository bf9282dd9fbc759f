"""A real `justlink serve` in a child process over a data directory, for the tests that stop it with a
signal (SIGTERM, SIGINT, SIGKILL). Waits on progress — the server answering /healthz, the process
exiting — with deadlines that fail the test, never on sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.kafka_broker import free_port

JUSTLINK = [sys.executable, "-m", "hub.cli.main"]
ROOT = Path(__file__).resolve().parents[2]


def justlink_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUSTLINK_")}
    env.update({"JUSTLINK_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), **extra})
    return env


class ServeProcess:
    def __init__(self, data_dir: Path, *command: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"serve-{self.port}.log"
        args = command or ("serve", "--port", str(self.port))
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen([*JUSTLINK, *args], cwd=data_dir.parent, env=justlink_env(data_dir),
                                     stdout=self._out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"justlink serve exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"justlink serve did not answer within {timeout_s} s: {self.output()}")
            try:
                self.proc.wait(0.1)  # progress is the process answering (or dying), not time passing
            except subprocess.TimeoutExpired:
                pass

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._out.close()

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
