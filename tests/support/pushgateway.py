"""A test-only Pushgateway: accepts pushes (`PUT`/`POST /metrics/job/<job>[/<label>/<value>]...`) in the
Prometheus text format and keeps the last body per grouping key, like the real one's replace semantics."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PushgatewayServer:
    def __init__(self) -> None:
        pushed: dict[str, bytes] = {}
        self.pushed = pushed

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _push(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = self.path.startswith("/metrics/job/")
                if ok:
                    pushed[self.path.removeprefix("/metrics")] = body
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST = _push  # noqa: N815 - http.server's names

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> PushgatewayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
