"""`promtool check metrics` (Debian package `prometheus`, installed by `make test`) on an exposition text:
fails — never skips — when promtool is missing or finds a problem."""

from __future__ import annotations

import shutil
import subprocess


def check_metrics(text: str | bytes, where: str) -> None:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make test` installs it (Debian package prometheus)"
    data = text.encode() if isinstance(text, str) else text
    result = subprocess.run([binary, "check", "metrics"], input=data, capture_output=True, timeout=60)
    problems = (result.stdout + result.stderr).decode(errors="replace").strip()
    assert result.returncode == 0 and not problems, f"promtool check metrics on {where}:\n{problems}"
