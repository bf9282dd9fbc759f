"""What the persona journeys share: the demo run as a newcomer runs it (`justlink demo --no-serve` in
a fresh directory, in its own process), its printed sign-ins and per-role cases read back, and
`justlink serve` started and stopped as a real process on that data directory."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

JUSTLINK = str(Path(sys.executable).with_name("justlink"))
SIGN_IN = re.compile(r"^  (\S+\.demo)\s+(\S+)\s+(\S+)\s+(jl_\S+)$")
ROLE_HEAD = re.compile(r"^  (\S+\.demo) — (\S+), purpose (\S+):$")
CASE_LINE = re.compile(r"^    (\S+)\s+(\S+)\s+opened (\d{4}-\d\d-\d\d)\s+look up (\S+) by (id_number|phone) (\S+)"
                       r"(?: after recording the consent of (\S+))?$")


@dataclass
class SuggestedCase:
    case_id: str
    kind: str
    opened: str
    name: str
    lookup_kind: str
    lookup: str
    consent_of: str | None = None  # under a rule that needs the party's consent: whose to record first


@dataclass
class Persona:
    user: str
    role: str
    organisation: str
    token: str = field(repr=False)
    purpose: str = ""
    cases: list[SuggestedCase] = field(default_factory=list)


@dataclass
class Demo:
    home: Path  # the working directory; the data directory is home/.justlink
    output: str
    personas: dict[str, Persona]

    @property
    def data_dir(self) -> Path:
        return self.home / ".justlink"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUSTLINK_")}
        env.update({"JUSTLINK_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"}, **extra)
        return env


def justlink(demo: Demo, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([JUSTLINK, *args], cwd=demo.home, env=demo.env(), input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def justlink_batch(demo: Demo, commands: list[dict], timeout: float = 600) -> list[dict]:
    """Several commands in one process of their own (tests/support/cli_batch.py): each as the command
    line runs it, Python's start and the hub's imports paid once."""
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-m", "tests.support.cli_batch"], cwd=demo.home,
                          env=demo.env(PYTHONPATH=root), input=json.dumps(commands), capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def run_demo(home: Path, *extra: str) -> Demo:
    home.mkdir(parents=True, exist_ok=True)
    demo = Demo(home, "", {})
    done = justlink(demo, "demo", "--no-serve", *extra, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    demo.output = done.stdout
    demo.personas = read_guide(done.stdout)
    return demo


def read_guide(output: str) -> dict[str, Persona]:
    """The sign-ins and the per-role cases, as the demo prints them for a newcomer."""
    personas: dict[str, Persona] = {}
    current: Persona | None = None
    for line in output.splitlines():
        if found := SIGN_IN.match(line):
            personas[found[1]] = Persona(found[1], found[2], found[3], found[4])
        elif found := ROLE_HEAD.match(line):
            current = personas[found[1]]
            current.purpose = found[3]
        elif (found := CASE_LINE.match(line)) and current is not None:
            current.cases.append(SuggestedCase(*found.groups()))
    return personas


class Server:
    """`justlink serve` on the demo's data directory, as a process of its own — or `justlink demo`, what
    `make demo` runs: the pipeline again, the summary and the guide, then the same server."""

    def __init__(self, demo: Demo, command: str = "serve") -> None:
        self.demo = demo
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(demo.home / f"serve-{self.port}.log", "w+", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen([JUSTLINK, command, "--port", str(self.port)], cwd=demo.home,
                                        env=demo.env(), stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 600.0) -> None:
        """Ready when it answers /healthz and advertises itself in server.json (what the CLI looks for)."""
        import httpx

        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process.poll() is None, f"justlink serve exited: {self.output()[-2000:]}"
            assert time.monotonic() < deadline, f"justlink serve not ready after {timeout_s}s: {self.output()[-2000:]}"
            try:
                advertised = json.loads((self.demo.data_dir / "server.json").read_text(encoding="utf-8"))
                if advertised["url"].endswith(f":{self.port}") and httpx.get(self.url + "/healthz", timeout=2).is_success:
                    return
            except (OSError, ValueError, KeyError, httpx.HTTPError):
                pass
            time.sleep(0.2)  # polling readiness, with a deadline that fails

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        """Stop it (SIGINT: Ctrl-C in the terminal); its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        return self.process.returncode
