"""The data directory: one writer per part, and private files.

- `claim(data_dir, part)`: an OS lock (flock) on `<data_dir>/locks/<part>.lock`, held for the life
  of the process and released by the kernel when it exits — also on SIGKILL or a crash, so a lock is
  never stale. A second process that wants the same part is refused with an error naming the holder
  (command, pid, start time). The parts: `processors` (the embedded runner: two would double every
  output), `views` (the projector), `audit` (the audit trail's writer: two would fork the chain).
  Within one process a part is claimed once and shared (reference-counted).
- `private_dir` / `private_file`: directories 0700 and files 0600 — everything in the data directory
  holds data or keys. The `justlink` command also sets its umask to 077, so files that libraries
  create (chDB's parts, SQLite's journals) are private too.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

PARTS = ("processors", "views", "audit")
LOCK_DIR = "locks"


class DataDirBusy(RuntimeError):
    """Another process holds this part of the data directory; the message names it."""


def private_dir(path: Path | str, *, tighten: bool = False) -> Path:
    """Create `path` (and missing parents) with mode 0700; with `tighten`, also make an existing one
    (the data directory itself, made by an older version) 0700 when it is ours."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if tighten and path.stat().st_mode & 0o077 and path.owner() == _me():
        os.chmod(path, 0o700)
    return path


def private_file(path: Path | str) -> Path:
    """Create `path` empty with mode 0600 in a 0700 directory, unless it exists (an SQLite database
    then starts in it; its -wal and -shm files take the same mode)."""
    path = Path(path)
    private_dir(path.parent)
    if not path.exists():  # whatever is there already (even a directory) is for its opener to judge
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    return path


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def describe_process() -> str:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:3]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(argv)


class _Held:
    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path, self.count = fd, path, 0


_held: dict[tuple[str, str], _Held] = {}
_guard = threading.Lock()


class PartLock:
    """A claim on one part of a data directory; `release()` (or closing the process) gives it back."""

    def __init__(self, key: tuple[str, str]) -> None:
        self._key = key
        self._released = False

    def release(self) -> None:
        with _guard:
            if self._released:
                return
            self._released = True
            held = _held[self._key]
            held.count -= 1
            if held.count == 0:
                del _held[self._key]
                os.close(held.fd)  # closing the descriptor drops the flock

    def __enter__(self) -> PartLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim(data_dir: Path | str, part: str, *, command: str | None = None) -> PartLock:
    """Claim `part` of the data directory for this process, or raise DataDirBusy naming the holder."""
    if part not in PARTS:
        raise ValueError(f"unknown data directory part {part!r}; expected one of {', '.join(PARTS)}")
    path = private_dir(Path(data_dir) / LOCK_DIR) / f"{part}.lock"
    key = (str(path.resolve()), part)
    with _guard:
        held = _held.get(key)
        if held is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise DataDirBusy(
                    f"data directory {Path(data_dir)} is in use: its {part} are held by {holder}. One process "
                    f"writes them at a time — stop that one first (or use it: `person` and `audit report` go "
                    "through a running `justlink serve`)") from None
            info = json.dumps({"command": command or describe_process(), "pid": os.getpid(),
                               "started_at": datetime.now(UTC).isoformat(timespec="seconds")})
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode("utf-8"), 0)
            held = _held[key] = _Held(fd, path)
        held.count += 1
    return PartLock(key)


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"`{info['command']}` (pid {info['pid']}, started {info['started_at']})"
    except (ValueError, KeyError, UnicodeDecodeError, OSError):
        return "another process"
