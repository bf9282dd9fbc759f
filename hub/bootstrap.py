"""The one place the hub's parts are opened for a Settings: the event log, the keystore and the
protector, the connectors' state, the view store, the pipeline and its runner, the projector —
and, for the embedded deployment, the background loops that `justlink serve` runs. Each part is
opened on first use and closed by `close()`. Top layer: used by the CLI only (the API gets its
services from hub/services); nothing below imports it.

chDB locks its data path to one process, so on the embedded deployment the processors, the
projector and the API share one process and one `Hub`.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING

import click

from runtime.datadir import DataDirBusy, PartLock, claim, private_dir
from runtime.settings import Settings

if TYPE_CHECKING:
    from connectors.sdk.state import ConnectorState
    from consent.privacy.keys import LocalKeystore
    from consent.privacy.protect import Protector
    from runtime.eventlog.base import EventLog
    from runtime.viewstore.store import ViewStore
    from schemas.remote_registry import RemoteSchemaRegistry
    from streams.pipeline import Pipeline
    from streams.runners.embedded import EmbeddedRunner, RunStats
    from streams.runners.views import ProjectionStats
    from streams.views.projector import ViewProjector

log = logging.getLogger("justlink.hub")
PROCESSORS_GROUP = "justlink-processors"


def schema_registry(settings: Settings, url: str | None = None, auth: str | None = None) -> RemoteSchemaRegistry:
    """The Schema Registry of the settings (or `url`), with its credentials: `auth` "USER[:PASSWORD]", else
    schema_registry_user and the password setting (or its file)."""
    from schemas.remote_registry import RegistryAuth, RemoteSchemaRegistry

    credentials = None
    if auth:
        user, has_password, password = auth.partition(":")
        if not has_password:
            password = settings.secret("schema_registry_password")
            if not password:
                raise click.ClickException("--auth USER without a password: set JUSTLINK_SCHEMA_REGISTRY_PASSWORD "
                                           "or schema_registry_password_file")
        credentials = RegistryAuth(user, password)
    elif settings.schema_registry_user:
        credentials = RegistryAuth(settings.schema_registry_user, settings.secret("schema_registry_password"))
    target = url or settings.schema_registry_url
    if not target:
        raise click.ClickException("no schema registry: give --registry-url or set schema_registry_url")
    return RemoteSchemaRegistry(target, auth=credentials, ca_file=settings.schema_registry_ca_file)


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        try:
            private_dir(settings.data_dir, tighten=True)
        except OSError as exc:
            raise click.ClickException(f"setting 'data_dir': cannot use {settings.data_dir} as the data directory: "
                                       f"{exc.strerror or exc}") from None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._claims: dict[str, PartLock] = {}

    def claim(self, part: str) -> None:
        """Hold `part` of the data directory (processors, views, audit) until close(): a second
        process that writes it refuses to start, naming this one."""
        if part in self._claims:
            return
        try:
            self._claims[part] = claim(self.settings.data_dir, part)
        except DataDirBusy as exc:
            raise click.ClickException(str(exc)) from None

    # -- storage and keys -----------------------------------------------------------------------------
    @cached_property
    def log(self) -> EventLog:
        from runtime.eventlog import open_event_log

        return open_event_log(self.settings)

    @cached_property
    def keystore(self) -> LocalKeystore:
        from consent.privacy.keys import KeystoreError, keystore_path, open_keystore

        if not keystore_path(self.settings.data_dir).exists():
            raise click.ClickException(
                f"no keystore in {self.settings.data_dir}: run `justlink keys init` first")
        try:
            return open_keystore(self.settings.data_dir, self.settings.master_key_file)
        except KeystoreError as exc:
            raise click.ClickException(str(exc)) from None

    @cached_property
    def protector(self) -> Protector:
        from consent.privacy.protect import Protector

        return Protector(self.keystore)

    @cached_property
    def connector_state(self) -> ConnectorState:
        from connectors.sdk.state import ConnectorState

        return ConnectorState(self.settings.data_dir / "connectors.db")

    @cached_property
    def view_store(self) -> ViewStore:
        from runtime.viewstore import open_view_store

        store = open_view_store(self.settings)
        store.migrate()
        return store

    # -- the stream processing of the embedded deployment ---------------------------------------------
    @cached_property
    def pipeline(self) -> Pipeline:
        from streams.pipeline import Pipeline

        return Pipeline.default(self.settings.data_dir)

    @cached_property
    def runner(self) -> EmbeddedRunner:
        from runtime.eventlog.embedded import EmbeddedEventLog
        from streams.runners.embedded import EmbeddedRunner

        if not isinstance(self.log, EmbeddedEventLog):
            raise RuntimeError("the embedded runner needs log_backend = 'embedded'; use `justlink worker` on Kafka")
        self.claim("processors")
        return EmbeddedRunner(self.log, self.pipeline, self.settings.data_dir / "state" / "processors.state",
                              group=PROCESSORS_GROUP)

    @cached_property
    def projector(self) -> ViewProjector:
        from streams.views.projector import ViewProjector

        self.claim("views")
        return ViewProjector(self.view_store)

    def process_until_idle(self, *, tick: bool = False) -> RunStats:
        """Process what the log holds; with `tick`, then expire the deadlines today's clock has passed."""
        return self.runner.run(until_idle=True, tick_when_drained=tick)

    def project_until_idle(self) -> ProjectionStats:
        from streams.runners.views import run_projector

        return run_projector(self.log, self.projector, until_idle=True)

    # -- background loops (serve) ----------------------------------------------------------------------
    def claim_writers(self) -> None:
        """Claim what the background loops write — the processors (embedded log) and the views — before
        any thread starts, so a second `process` / `serve` refuses at once, naming the running one."""
        if self.settings.log_backend == "embedded":
            self.claim("processors")
        self.claim("views")

    def start_background(self) -> None:
        """The processors (on the embedded log; on Kafka they run in `justlink worker`) and the
        projector, each in a thread that logs a failure (without personal data) and retries."""
        from streams.runners.views import run_projector

        self.claim_writers()

        def loop(name, fn):
            def body():
                while not self._stop.is_set():
                    try:
                        fn()
                    except Exception:  # keep serving; the error is logged without personal data
                        log.exception("%s loop failed; retrying in 2 s", name)
                        self._stop.wait(2.0)
            thread = threading.Thread(target=body, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

        if self.settings.log_backend == "embedded":
            loop("processors", lambda: self.runner.run(until_idle=False, stop=self._stop))
        loop("projector", lambda: run_projector(self.log, self.projector, until_idle=False, stop=self._stop))

    def stop_background(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.stop_background()
        for name in ("view_store", "log", "keystore", "connector_state"):
            part = self.__dict__.pop(name, None)
            if part is not None:
                part.close()
        for held in self._claims.values():
            held.release()
        self._claims.clear()
