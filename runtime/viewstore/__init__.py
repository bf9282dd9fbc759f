"""View store: the shared views in ClickHouse (server over HTTP) or chDB (in-process)."""

from __future__ import annotations

from runtime.settings import Settings
from runtime.viewstore.store import MigrationError, ViewStore, ViewStoreError, ViewStoreUnavailable, connect

__all__ = ["MigrationError", "ViewStore", "ViewStoreError", "ViewStoreUnavailable", "open_view_store"]


def open_view_store(settings: Settings) -> ViewStore:
    """Open the view store named by `settings.view_backend`; the database is created if missing.

    Call `migrate()` on the result to bring the tables up to date.
    """
    return connect(settings)
