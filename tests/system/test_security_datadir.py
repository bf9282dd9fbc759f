"""One writer per data directory: a second `justlink process` or `serve` on a data directory another
process writes refuses to start, naming the running one; the OS lock goes with a SIGKILLed holder."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from consent.privacy.keys import init_keystore
from runtime.datadir import DataDirBusy, claim
from tests.support.serve_process import JUSTLINK, ServeProcess, justlink_env

pytestmark = pytest.mark.slow


def _justlink(data: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JUSTLINK, *args], cwd=data.parent, env=justlink_env(data), capture_output=True,
                          text=True, timeout=timeout)


def _wait_for_holder(lock: Path, proc: subprocess.Popen, timeout_s: float = 120) -> dict:
    """Wait on progress: the lock file naming the process (or the process dying)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            info = json.loads(lock.read_text(encoding="utf-8"))
            if info.get("pid") == proc.pid:
                return info
        except (OSError, ValueError):
            pass
        assert proc.poll() is None, f"the first process exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{lock} never named the first process"
        try:
            proc.wait(0.05)
        except subprocess.TimeoutExpired:
            pass


def test_a_second_writer_is_refused_naming_the_first_and_sigkill_releases_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_keystore(data)
    first = ServeProcess(data, "process", "--follow")
    try:
        info = _wait_for_holder(data / "locks" / "processors.lock", first.proc)
        assert "process" in info["command"]
        for command in (("process",), ("serve", "--port", "1")):
            second = _justlink(data, *command)
            assert second.returncode == 1, (command, second.stdout, second.stderr)
            assert f"pid {first.proc.pid}" in second.stderr and "process --follow" in second.stderr, second.stderr
            assert "Traceback" not in second.stderr
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(60)
    finally:
        first.kill()
    after = _justlink(data, "process")  # the kernel dropped the lock with the killed process
    assert after.returncode == 0, after.stderr
    assert "processors:" in after.stdout


def test_a_part_is_shared_within_a_process_and_refused_across(tmp_path: Path) -> None:
    with claim(tmp_path, "audit"), claim(tmp_path, "audit"):
        probe = subprocess.run(
            [JUSTLINK[0], "-c", "import sys; from runtime.datadir import claim; claim(sys.argv[1], 'audit')",
             str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
        assert probe.returncode == 1 and "DataDirBusy" in probe.stderr and "pid " in probe.stderr
    with claim(tmp_path, "audit"):  # released by the with blocks above
        pass
    with pytest.raises(ValueError, match="unknown data directory part"):
        claim(tmp_path, "everything")
    assert issubclass(DataDirBusy, RuntimeError)
