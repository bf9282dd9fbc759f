"""Shared test support: real components started once per test process.

chDB hosts ONE engine path per process, so every test that touches chDB — the embedded
view store and the test HTTP server alike — must use `chdb_data_dir()` as its
`Settings.data_dir` (the engine lives at `<data_dir>/views`) and isolate itself by
database name (`unique_database()`), never by path.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

from tests.support.clickhouse_http import ChdbHttpServer

__all__ = ["ChdbHttpServer", "chdb_data_dir", "chdb_http_server", "unique_database"]

_lock = threading.Lock()
_data_dir: Path | None = None
_server: ChdbHttpServer | None = None


def chdb_data_dir() -> Path:
    """The process-wide data_dir whose `views` subdirectory is this process's chDB engine path."""
    global _data_dir
    with _lock:
        if _data_dir is None:
            _data_dir = Path(tempfile.mkdtemp(prefix="justlink-chdb-"))
            atexit.register(shutil.rmtree, _data_dir, True)
        return _data_dir


def chdb_http_server() -> ChdbHttpServer:
    """The process-wide ClickHouse-over-HTTP server on the shared chDB engine (started on first use)."""
    global _server
    data_dir = chdb_data_dir()
    with _lock:
        if _server is None:
            _server = ChdbHttpServer(data_dir / "views").start()
            atexit.register(_server.stop)
        return _server


def unique_database(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
