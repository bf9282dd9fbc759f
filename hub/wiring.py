"""Opens the hub's parts for one Settings: the event log, keystore and protector,
connector state, view store. Top layer: used by the CLI, the API and the embedded
server only; nothing below imports it."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import click

from hub.settings import Settings

if TYPE_CHECKING:
    from connectors.sdk.state import ConnectorState
    from consent.keys import LocalKeystore
    from consent.protect import Protector
    from hub.eventlog.base import EventLog


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"setting 'data_dir': cannot use {settings.data_dir} as the data directory: "
                                       f"{exc.strerror or exc}") from None

    @cached_property
    def log(self) -> EventLog:
        from hub.eventlog import open_event_log

        return open_event_log(self.settings)

    @cached_property
    def keystore(self) -> LocalKeystore:
        from consent.keys import KeystoreError, keystore_path, open_keystore

        if not keystore_path(self.settings.data_dir).exists():
            raise click.ClickException(
                f"no keystore in {self.settings.data_dir}: run `justlink keys init` first")
        try:
            return open_keystore(self.settings.data_dir, self.settings.master_key_file)
        except KeystoreError as exc:
            raise click.ClickException(str(exc)) from None

    @cached_property
    def protector(self) -> Protector:
        from consent.protect import Protector

        return Protector(self.keystore)

    @cached_property
    def connector_state(self) -> ConnectorState:
        from connectors.sdk.state import ConnectorState

        return ConnectorState(self.settings.data_dir / "connectors.db")

    def close(self) -> None:
        for name in ("log", "keystore", "connector_state"):
            part = self.__dict__.pop(name, None)
            if part is not None:
                part.close()
