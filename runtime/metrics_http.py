"""A small HTTP endpoint for processes without a web server of their own (the faust worker): `/metrics` in the
Prometheus text format (the process's default registry) and `/healthz` (200 while `healthy()` says so, else
503). Served from a daemon thread; nothing else is answered (404)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


class MetricsServer:
    def __init__(self, host: str, port: int, healthy: Callable[[], bool] = lambda: True) -> None:
        check = healthy

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    status, body, kind = 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST
                elif path == "/healthz":
                    ok = check()
                    status, body, kind = (200 if ok else 503), (b"ok\n" if ok else b"unhealthy\n"), "text/plain"
                else:
                    status, body, kind = 404, b"not found\n", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise OSError(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
