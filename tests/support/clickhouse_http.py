"""Test-only: the chDB engine served over ClickHouse's HTTP interface.

No modern ClickHouse server can be installed on the build machine, so the HTTP deployment
of the view store is tested against this server: the real ClickHouse engine (chDB) behind
the subset of the HTTP protocol clickhouse-connect uses — keep-alive with Content-Length,
chunked and compressed (lz4 frame per block, zstd, gzip, deflate) request bodies,
compressed responses by Accept-Encoding, the query in the `query` parameter and/or the
body (an `INSERT … FORMAT X` line may lead the body, followed by the data), `param_x`
query parameters, other URL parameters as settings, the X-ClickHouse-* response headers,
and errors as HTTP 500 with X-ClickHouse-Exception-Code.

chDB hosts one engine path per process. This server opens its own connection handles to
that engine, so a chdb-interface client in the same process must use the SAME path; the
two then see the same databases (isolate tests by database name).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb
import lz4.frame
import zstandard

# URL parameters the HTTP layer consumes; everything else that is not param_* is a setting.
TRANSPORT_PARAMS = frozenset(
    {
        "query", "database", "default_format", "query_id", "session_id", "session_timeout", "session_check",
        "wait_end_of_query", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
        "enable_http_compression", "client_protocol_version", "compress", "decompress", "buffer_size",
        "user", "password", "quota_key", "role", "http_native_compression_disable_checksumming_on_decompress",
    }
)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INSERT_WITH_DATA = re.compile(r"^\s*(INSERT\s+INTO\s.*?)\s+FORMAT\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_ERROR_CODE = re.compile(r"Code: (\d+)")
_CONTENT_TYPES = {"TabSeparated": "text/tab-separated-values; charset=UTF-8", "JSON": "application/json; charset=UTF-8"}


class ClickHouseHttpError(Exception):
    def __init__(self, message: str, code: int = 1001) -> None:
        super().__init__(message)
        self.code = code


def _engine_error(exc: Exception) -> ClickHouseHttpError:
    message = str(exc)
    start = message.find("Code: ")
    message = message[start:] if start > 0 else message
    match = _ERROR_CODE.search(message)
    return ClickHouseHttpError(message.strip(), int(match.group(1)) if match else 1001)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---- compression ------------------------------------------------------------------------


def decode_body(data: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding == "lz4":  # clickhouse-connect sends one LZ4 frame per block: read them all
        out = bytearray()
        while data:
            decompressor = lz4.frame.LZ4FrameDecompressor()
            out += decompressor.decompress(data)
            data = decompressor.unused_data if decompressor.eof else b""
        return bytes(out)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(data)
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    raise ClickHouseHttpError(f"Code: 48. DB::Exception: Unknown Content-Encoding {encoding!r}. (NOT_IMPLEMENTED)", 48)


_ENCODERS = {
    "lz4": lz4.frame.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


def pick_response_encoding(accept_encoding: str) -> str | None:
    for item in accept_encoding.split(","):
        name = item.split(";")[0].strip().lower()
        if name in _ENCODERS:
            return name
    return None


# ---- engine handles ----------------------------------------------------------------------


class _Handle:
    """One chdb connection plus the session state (USE, SET) currently applied to it."""

    def __init__(self, path: str) -> None:
        self.conn = chdb.connect(path)
        self.database = "default"
        self.settings: dict[str, str] = {}

    def run(self, sql: str, fmt: str, params: dict[str, str] | None = None) -> Any:
        try:
            return self.conn.query(sql, fmt, params=params or {})
        except Exception as exc:
            raise _engine_error(exc) from None

    def prepare(self, database: str, settings: dict[str, str]) -> None:
        """Make the handle look like a fresh HTTP request: this database, exactly these settings."""
        if database != self.database:
            self.run(f"USE `{database.replace('`', '')}`", "TabSeparated")
            self.database = database
        for name in [n for n in self.settings if n not in settings]:
            self.run(f"SET {name} = DEFAULT", "TabSeparated")
            del self.settings[name]
        for name, value in settings.items():
            if self.settings.get(name) != value:
                if not _SETTING_NAME.match(name):
                    raise ClickHouseHttpError(f"Code: 115. DB::Exception: Unknown setting {name!r}. (UNKNOWN_SETTING)", 115)
                self.run(f"SET {name} = {_quote(value)}", "TabSeparated")
                self.settings[name] = value


class _HandlePool:
    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[_Handle] = []
        self._all: list[_Handle] = []
        self._lock = threading.Lock()

    @contextmanager
    def handle(self) -> Iterator[_Handle]:
        with self._lock:
            handle = self._idle.pop() if self._idle else None
        if handle is None:
            handle = _Handle(self.path)
            with self._lock:
                self._all.append(handle)
        try:
            yield handle
        finally:
            with self._lock:
                self._idle.append(handle)

    def close(self) -> None:
        with self._lock:
            for handle in self._all:
                handle.conn.close()
            self._all.clear()
            self._idle.clear()


# ---- the HTTP side -----------------------------------------------------------------------


class _Result:
    def __init__(self, body: bytes, fmt: str | None, summary: dict[str, str]) -> None:
        self.body = body
        self.format = fmt
        self.summary = summary


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffer headers and body into one write (flushed after each request), and disable Nagle:
    # split small writes otherwise meet delayed ACKs and cost ~40 ms per query.
    wbufsize = 1 << 16
    server: ChdbHttpServer._Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # requests carry query text and parameters: keep them out of test output

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and not url.query and not body):
            self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": self.server.timezone}
        request_encoding = self.headers.get("Content-Encoding", "")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.server.encodings_seen.add("request:chunked")
        if request_encoding:
            self.server.encodings_seen.add(f"request:{request_encoding}")
        try:
            body = decode_body(body, request_encoding)
            result = self.server.execute(params, body)
        except (ClickHouseHttpError, ValueError, OSError) as exc:
            # ValueError/OSError: an undecodable body or a temp-file problem, reported like ClickHouse does.
            code = exc.code if isinstance(exc, ClickHouseHttpError) else 1001
            headers["X-ClickHouse-Exception-Code"] = str(code)
            headers["Content-Type"] = "text/plain; charset=UTF-8"
            message = str(exc) if isinstance(exc, ClickHouseHttpError) else f"Code: 1001. DB::Exception: {exc!r}"
            self._send(500, f"{message}\n".encode(), headers)
            return
        headers["X-ClickHouse-Summary"] = json.dumps(result.summary)
        if result.format:
            headers["X-ClickHouse-Format"] = result.format
        headers["Content-Type"] = _CONTENT_TYPES.get(result.format or "", "application/octet-stream")
        payload = result.body
        encoding = pick_response_encoding(self.headers.get("Accept-Encoding", ""))
        compression_enabled = params.get("enable_http_compression", self.server.compression_default) == "1"
        if encoding and compression_enabled and payload:
            payload = _ENCODERS[encoding](payload)
            headers["Content-Encoding"] = encoding
            self.server.encodings_seen.add(f"response:{encoding}")
        self._send(200, payload, headers)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class ChdbHttpServer:
    """The chDB engine at `path` served over ClickHouse HTTP on a free loopback port.

    Use as a context manager, or call start() / stop(). `port` and `url` are set once started.
    """

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        timezone: str
        compression_default: str
        execute: Any
        encodings_seen: set[str]

    def __init__(self, path: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.path = os.path.realpath(path)
        self.host = host
        self._requested_port = port
        self._pool = _HandlePool(self.path)
        self._server: ChdbHttpServer._Server | None = None
        self._thread: threading.Thread | None = None
        # Content-Encodings of request and response bodies, so tests can prove a path was exercised.
        self.encodings_seen: set[str] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ChdbHttpServer is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ChdbHttpServer:
        Path(self.path).mkdir(parents=True, exist_ok=True)
        with self._pool.handle() as handle:
            timezone = handle.run("SELECT timezone()", "TabSeparated").bytes().decode().strip()
            # Clients skip the parameter when the server reports the setting as already on (chDB does).
            compression_default = handle.run(
                "SELECT value FROM system.settings WHERE name = 'enable_http_compression'", "TabSeparated"
            ).bytes().decode().strip()
        server = ChdbHttpServer._Server((self.host, self._requested_port), _Handler)
        server.timezone = timezone
        server.compression_default = compression_default
        server.execute = self.execute
        server.encodings_seen = self.encodings_seen
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"chdb-http-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._pool.close()

    def __enter__(self) -> ChdbHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- query execution -----------------------------------------------------------------

    def execute(self, params: dict[str, str], body: bytes) -> _Result:
        query_param = params.get("query", "")
        bind = {name[6:]: value for name, value in params.items() if name.startswith("param_")}
        settings = {
            name: value
            for name, value in params.items()
            if name not in TRANSPORT_PARAMS and not name.startswith("param_")
        }
        insert_head, insert_format, data = _split_insert(query_param, body)
        with self._pool.handle() as handle:
            handle.prepare(params.get("database") or "default", settings)
            if insert_head is not None and insert_format is not None:
                return _insert_from_file(handle, insert_head, insert_format, data)
            sql = f"{query_param}\n{body.decode()}" if query_param and body else query_param or body.decode()
            if not sql.strip():
                raise ClickHouseHttpError("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)", 62)
            return _run_query(handle, sql, params.get("default_format") or None, bind)


def _split_insert(query_param: str, body: bytes) -> tuple[str | None, str | None, bytes]:
    """Find `INSERT … FORMAT X` followed by data: in the query parameter, or as the body's first line."""
    if query_param:
        match = _INSERT_WITH_DATA.match(query_param)
        return (match.group(1), match.group(2), body) if match else (None, None, body)
    newline = body.find(b"\n")
    if newline < 0:
        return None, None, body
    match = _INSERT_WITH_DATA.match(body[:newline].decode("utf-8", errors="replace"))
    return (match.group(1), match.group(2), body[newline + 1 :]) if match else (None, None, body)


def _insert_from_file(handle: _Handle, head: str, fmt: str, data: bytes) -> _Result:
    if not data:
        return _Result(b"", None, {"written_rows": "0", "written_bytes": "0"})
    with tempfile.NamedTemporaryFile(suffix=f".{fmt.lower()}", delete=False) as tmp:
        tmp.write(data)
    try:
        started = time.perf_counter_ns()
        result = handle.run(f"{head} FROM INFILE {_quote(tmp.name)} FORMAT {fmt}", "TabSeparated")
        summary = {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_read()),
            "written_bytes": str(len(data)),
            "elapsed_ns": str(time.perf_counter_ns() - started),
        }
        return _Result(b"", None, summary)
    finally:
        os.unlink(tmp.name)


def _run_query(handle: _Handle, sql: str, default_format: str | None, bind: dict[str, str]) -> _Result:
    explicit = _TRAILING_FORMAT.search(sql)
    started = time.perf_counter_ns()
    if explicit or default_format:
        fmt = explicit.group(1) if explicit else str(default_format)
        result = handle.run(sql, fmt, bind)
        body: bytes = result.bytes() or b""
        result_format: str | None = fmt
    else:
        # The HTTP default is TabSeparated. Run it WithNames to tell a statement that returns
        # a (possibly empty) result set — it always emits the names line — from one that does not.
        result = handle.run(sql, "TabSeparatedWithNames", bind)
        raw = result.bytes() or b""
        newline = raw.find(b"\n")
        body = raw[newline + 1 :] if raw else b""
        result_format = "TabSeparated" if raw else None
    summary = {
        "read_rows": str(result.rows_read()),
        "read_bytes": str(result.bytes_read()),
        "written_rows": "0",
        "written_bytes": "0",
        "result_rows": "0",
        "elapsed_ns": str(time.perf_counter_ns() - started),
    }
    return _Result(body, result_format, summary)
