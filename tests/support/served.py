"""The query API over a county's services, served by uvicorn on a free loopback port in a thread of
this process (the views stay on this process's one chDB engine). `advertise=True` also writes the data
directory's server.json, as `justlink serve` does, so CLI commands run in this process go through it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from hub.api.app import create_app
from hub.cli.remote import advertise, withdraw
from hub.services.context import AppServices


@contextmanager
def served(services: AppServices, *, advertise_in_data_dir: bool = False,
           start_timeout_s: float = 30.0) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="served-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:  # progress, not a sleep that drives the test: uvicorn sets it once bound
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    if advertise_in_data_dir:
        advertise(services.settings.data_dir, url)
    try:
        yield url
    finally:
        if advertise_in_data_dir:
            withdraw(services.settings.data_dir)
        server.should_exit = True
        thread.join(15)
