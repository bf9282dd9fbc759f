"""Fixtures for the view store, run against both deployments.

Bind into a test module: `view_store = tests.support.viewstore.view_store` (an assignment, so ruff's
F811 does not flag the test parameters).
`view_store` is parametrized over chDB in-process and the ClickHouse HTTP interface (the
test server over the same chDB engine); each test gets its own fresh database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.settings import Settings
from runtime.viewstore import ViewStore, open_view_store
from tests.support import chdb_data_dir, chdb_http_server, unique_database

VIEW_BACKENDS = ("chdb", "clickhouse")


def view_store_settings(backend: str, database: str | None = None) -> Settings:
    """Settings for a store on this process's chDB engine, directly or through the HTTP server."""
    port = chdb_http_server().port if backend == "clickhouse" else 8123
    return Settings(
        data_dir=chdb_data_dir(),
        view_backend=backend,
        clickhouse_host="127.0.0.1",
        clickhouse_port=port,
        clickhouse_database=database or unique_database("views"),
    )


def _open(backend: str) -> Iterator[ViewStore]:
    store = open_view_store(view_store_settings(backend))
    try:
        yield store
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()


@pytest.fixture(params=VIEW_BACKENDS)
def view_store(request: pytest.FixtureRequest) -> Iterator[ViewStore]:
    """A store on a fresh, empty database (no migrations applied)."""
    yield from _open(request.param)


@pytest.fixture(params=VIEW_BACKENDS)
def migrated_view_store(request: pytest.FixtureRequest) -> Iterator[ViewStore]:
    """A store on a fresh database with every migration applied."""
    for store in _open(request.param):
        store.migrate()
        yield store
