"""The view store: ClickHouse tables reached through one client library, clickhouse-connect.

Two deployments, same DDL and SQL: chDB in-process (`view_backend = "chdb"`, the embedded
default, data under `<data_dir>/views`) and a ClickHouse server over HTTP
(`view_backend = "clickhouse"`). chDB holds one data path per process, so the embedded
hub runs its processors, views and API in one process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from runtime.datadir import private_dir
from runtime.settings import Settings
from runtime.viewstore.cluster import ClusterDDLError, Layout
from runtime.viewstore.migrations import Migration, load_migrations

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTTP_PREFIX = re.compile(r"^Received ClickHouse exception, code: \d+, server response: ")
_HTTP_URL_SUFFIX = re.compile(r" \(for url [^)]*\)$")

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY version
"""

# clickhouse-connect takes a dict (named `{name:Type}` placeholders) or a sequence (positional).
Parameters = dict[str, Any] | Sequence[Any] | None


class ViewStoreError(RuntimeError):
    """A view-store operation failed; the message names the backend, its address and the database."""

    def __init__(self, message: str, *, backend: str, address: str, code: int | None = None) -> None:
        super().__init__(message)
        self.backend = backend
        self.address = address
        self.code = code


class ViewStoreUnavailable(ViewStoreError):
    """The store cannot be reached or opened (server down, chDB path locked by another process)."""


class MigrationError(ViewStoreError):
    """A migration failed, or an applied migration was edited afterwards."""


class ViewStore:
    """A thin, typed face over a clickhouse-connect client bound to one database."""

    def __init__(self, client: Client, *, backend: str, address: str, database: str,
                 layout: Layout | None = None) -> None:
        self._client = client
        self.backend = backend
        self.address = address
        self.database = database
        self.layout = layout or Layout(database=database)

    # ---- queries -------------------------------------------------------------------------

    def command(self, sql: str, parameters: Parameters = None) -> Any:
        """Run a statement (DDL, INSERT … SELECT, OPTIMIZE …); returns clickhouse-connect's command result."""
        try:
            return self._client.command(sql, parameters=parameters)
        except ClickHouseError as exc:
            raise self._error("command failed", exc) from None

    def query_rows(self, sql: str, parameters: Parameters = None) -> list[tuple[Any, ...]]:
        """Rows of a SELECT as tuples. Use server-side parameters: `WHERE id = {id:String}`."""
        try:
            return [tuple(row) for row in self._client.query(sql, parameters=parameters).result_rows]
        except ClickHouseError as exc:
            raise self._error("query failed", exc) from None

    def query_dicts(self, sql: str, parameters: Parameters = None) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts keyed by column name."""
        try:
            return list(self._client.query(sql, parameters=parameters).named_results())
        except ClickHouseError as exc:
            raise self._error("query failed", exc) from None

    def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]) -> int:
        """Insert rows (each a list or tuple in `column_names` order); returns the rows written."""
        return self._insert(table, rows, column_names, column_oriented=False)

    def insert_columns(self, table: str, columns: Sequence[Sequence[Any]], column_names: Sequence[str]) -> int:
        """Insert column-oriented data (one sequence per column): the fast path for bulk loads."""
        return self._insert(table, columns, column_names, column_oriented=True)

    def _insert(self, table: str, data: Sequence[Sequence[Any]], column_names: Sequence[str], *, column_oriented: bool) -> int:
        if not data:
            return 0
        try:
            summary = self._client.insert(
                table, data, column_names=list(column_names), column_oriented=column_oriented
            )
        except ClickHouseError as exc:
            raise self._error(f"insert into {table} failed", exc) from None
        except (TypeError, ValueError) as exc:
            # Client-side serialisation: the message names the column; values are not echoed.
            raise ViewStoreError(
                f"{self._where()}: insert into {table} failed: rows do not match columns "
                f"{list(column_names)}: {type(exc).__name__}",
                backend=self.backend,
                address=self.address,
            ) from exc
        return int(getattr(summary, "written_rows", 0) or (len(data[0]) if column_oriented else len(data)))

    # ---- migrations ----------------------------------------------------------------------

    def applied_migrations(self) -> dict[int, str]:
        """version -> checksum of the migrations recorded in schema_migrations."""
        for statement in self.layout.statements(_MIGRATIONS_TABLE.strip()):
            self.command(statement)
        rows = self.query_rows("SELECT version, checksum FROM schema_migrations FINAL ORDER BY version")
        return {int(version): str(checksum) for version, checksum in rows}

    def migrate(self, migrations: list[Migration] | None = None) -> list[str]:
        """Apply pending migrations in version order; returns the names applied (empty when up to date)."""
        migrations = load_migrations() if migrations is None else migrations
        applied = self.applied_migrations()
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{self._where()}: migration {migration.name} was changed after it was applied; "
                        "add a new migration instead of editing an applied one",
                        backend=self.backend,
                        address=self.address,
                    )
                continue
            for index, written in enumerate(migration.statements, start=1):
                try:
                    for statement in self.layout.statements(written):
                        self._client.command(statement)
                except ClusterDDLError as exc:
                    raise MigrationError(f"{self._where()}: migration {migration.name} statement {index}: {exc}",
                                         backend=self.backend, address=self.address) from None
                except ClickHouseError as exc:
                    raise self._error(
                        f"migration {migration.name} statement {index}", exc, error_type=MigrationError
                    ) from None
            self.insert(
                "schema_migrations",
                [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
                ["version", "name", "checksum", "applied_at"],
            )
            done.append(migration.name)
        return done

    # ---- lifecycle -----------------------------------------------------------------------

    def ping(self) -> bool:
        return bool(self._client.ping())

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ViewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ViewStore({self.backend} at {self.address}, database {self.database})"

    # ---- errors --------------------------------------------------------------------------

    def _where(self) -> str:
        return f"view store ({self.backend} at {self.address}, database {self.database})"

    def _error(
        self, what: str, exc: ClickHouseError, error_type: type[ViewStoreError] | None = None
    ) -> ViewStoreError:
        code = getattr(exc, "code", None)
        if error_type is None:
            # A transport failure carries no ClickHouse error code: the store is down.
            error_type = ViewStoreUnavailable if isinstance(exc, OperationalError) and code is None else ViewStoreError
        return error_type(
            f"{self._where()}: {what}: {_clean_message(exc)}", backend=self.backend, address=self.address, code=code
        )


def _clean_message(exc: BaseException) -> str:
    """One line, without the HTTP client's wrapper (the store's address is already named)."""
    message = " ".join(str(exc).split())
    message = _HTTP_PREFIX.sub("", _HTTP_URL_SUFFIX.sub("", message))
    return message or type(exc).__name__


def connect(settings: Settings) -> ViewStore:
    """Open the store the settings name, creating its database if missing."""
    database = settings.clickhouse_database
    if settings.view_backend == "chdb":
        path = Path(settings.data_dir) / "views"
        backend, address = "chdb", str(path)
    else:
        path = None
        backend, address = "clickhouse", f"{settings.clickhouse_host}:{settings.clickhouse_port}"
    if settings.clickhouse_cluster and not _IDENTIFIER.match(settings.clickhouse_cluster):
        raise ViewStoreError(
            f"view store ({backend} at {address}): setting 'clickhouse_cluster' must be a plain identifier "
            f"(letters, digits, _), got a value of {len(settings.clickhouse_cluster)} characters",
            backend=backend,
            address=address,
        )
    if not _IDENTIFIER.match(database):
        raise ViewStoreError(
            f"view store ({backend} at {address}): setting 'clickhouse_database' must be a plain identifier "
            f"(letters, digits, _), got {database!r}",
            backend=backend,
            address=address,
        )
    try:
        if path is not None:
            private_dir(path)
            client = clickhouse_connect.get_client(interface="chdb", path=str(path))
        else:
            client = clickhouse_connect.get_client(
                interface="https" if settings.clickhouse_secure else "http",
                # https always verifies the server's certificate: against clickhouse_ca_file, or the system CAs
                verify=True,
                ca_cert=str(settings.clickhouse_ca_file) if settings.clickhouse_ca_file else None,
                host=settings.clickhouse_host,
                port=settings.clickhouse_port,
                username=settings.clickhouse_user,
                password=settings.clickhouse_password,
                # No server session: the client stays usable from several threads at once.
                autogenerate_session_id=False,
                connect_timeout=5,
                # on a cluster, an insert returns once the shards have the rows (the views are read at once)
                settings={"insert_distributed_sync": 1} if settings.clickhouse_cluster else None,
            )
    except (ClickHouseError, OSError, RuntimeError) as exc:
        hint = " (chDB holds one data path per process; is another process or store using it?)" if path else ""
        raise ViewStoreUnavailable(
            f"view store ({backend} at {address}) is unavailable{hint}: {_clean_message(exc)}",
            backend=backend,
            address=address,
            code=getattr(exc, "code", None),
        ) from None
    layout = Layout(settings.clickhouse_cluster if backend == "clickhouse" else "", database,
                    settings.audit_view_retention_years)
    store = ViewStore(client, backend=backend, address=address, database=database, layout=layout)
    try:
        on_cluster = f" ON CLUSTER {layout.cluster}" if layout.clustered else ""
        store.command(f"CREATE DATABASE IF NOT EXISTS `{database}`{on_cluster}")
        client.database = database
    except ViewStoreError:
        client.close()
        raise
    return store
