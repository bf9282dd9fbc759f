"""The view store: the same assertions against chDB in-process and a ClickHouse HTTP interface.

The HTTP deployment is served by tests/support/clickhouse_http.py over this process's chDB
engine (chDB allows one engine path per process, so both deployments share it and each
test works in its own database).
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from urllib.parse import urlencode

import clickhouse_connect
import pytest

from runtime.settings import Settings
from runtime.viewstore import MigrationError, ViewStore, ViewStoreError, ViewStoreUnavailable, open_view_store
from runtime.viewstore.migrations import Migration, load_migrations
from tests.support import chdb_data_dir, chdb_http_server, unique_database
from tests.support import viewstore as fixtures
from tests.support.viewstore import view_store_settings

view_store = fixtures.view_store
migrated_view_store = fixtures.migrated_view_store

VIEW_TABLES = {
    "person_records", "persons", "person_redirects", "person_lookup", "timeline", "disputes",
    "dispute_events", "alerts", "cases", "audit_log",
}
T0 = datetime(2024, 3, 1, 8, 30, 15, 123000)


def _tables(store: ViewStore) -> set[str]:
    rows = store.query_rows("SELECT name FROM system.tables WHERE database = {db:String}", {"db": store.database})
    return {name for (name,) in rows}


def _persons(rows: list[tuple]) -> list[list]:
    """persons rows from (person_id, record_count, version, is_deleted)."""
    return [[pid, ["court"], count, ["sk-" + pid], T0, T0, version, deleted] for pid, count, version, deleted in rows]


PERSON_COLUMNS = [
    "person_id", "agencies", "record_count", "subject_keys", "first_seen", "last_seen", "version", "is_deleted",
]
EXAMPLE = "persons_example"  # the shape `persons` had as a table (it is a view now): a replacing table to test


def _example_table(store: ViewStore) -> None:
    store.command(f"CREATE TABLE IF NOT EXISTS {EXAMPLE} (person_id String, agencies Array(String), "
                  "record_count UInt32, subject_keys Array(String), first_seen DateTime64(3, 'UTC'), "
                  "last_seen DateTime64(3, 'UTC'), version UInt64, is_deleted UInt8) "
                  "ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY person_id")


# ---- migrations ------------------------------------------------------------------------------


def test_migrations_apply_once_and_rerun_is_a_noop(view_store: ViewStore) -> None:
    assert _tables(view_store) == set()

    shipped = load_migrations()
    assert view_store.migrate() == [m.name for m in shipped]
    assert VIEW_TABLES | {"schema_migrations"} <= _tables(view_store)
    assert view_store.migrate() == []

    # Another client (a restarted hub) sees the recorded migrations too.
    with open_view_store(view_store_settings(view_store.backend, view_store.database)) as again:
        assert again.migrate() == []
    rows = view_store.query_rows("SELECT version, name FROM schema_migrations FINAL ORDER BY version")
    assert rows == [(m.version, m.name) for m in shipped]


def test_later_migration_is_applied_alone_and_edits_are_refused(view_store: ViewStore) -> None:
    initial = load_migrations()[:1]
    view_store.migrate(initial)
    added = Migration(90, "090_person_note", ("ALTER TABLE persons ADD COLUMN IF NOT EXISTS note String",))

    assert view_store.migrate([*initial, added]) == ["090_person_note"]
    assert view_store.migrate([*initial, added]) == []
    columns = view_store.query_rows("SELECT name FROM system.columns WHERE database = currentDatabase() "
                                    "AND table = 'persons'")
    assert ("note",) in columns

    edited = Migration(90, "090_person_note", ("ALTER TABLE persons ADD COLUMN IF NOT EXISTS note2 String",))
    with pytest.raises(MigrationError, match="090_person_note was changed after it was applied"):
        view_store.migrate([*initial, edited])


def test_timeline_rebuilt_for_point_reads_keeps_its_rows(view_store: ViewStore) -> None:
    """Migration 006 moves the timeline's rows into a table of 128-row granules and compact parts."""
    shipped = load_migrations()
    view_store.migrate([m for m in shipped if m.version < 6])
    columns = ["person_id", "occurred_at", "event_id", "party_index", "event_type", "agency", "office_code",
               "stage", "dispute_id", "role", "restricted", "payload", "version", "is_deleted"]
    rows = [[f"P{i % 3}", T0, f"E{i}", 0, "CaseFiled", "court", "C1", "court_filing", "", "plaintiff", 0, "x", 1, 0]
            for i in range(10)]
    view_store.insert("timeline", rows, columns)

    assert "006_timeline_point_reads" in view_store.migrate(shipped)
    assert view_store.query_rows("SELECT count() FROM timeline FINAL WHERE person_id = 'P1'") == [(3,)]
    [(engine,)] = view_store.query_rows("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                                        "AND name = 'timeline'")
    assert "index_granularity = 128" in engine and "min_rows_for_wide_part" in engine
    assert "timeline_by_person" not in _tables(view_store)


def test_migrations_come_in_version_order() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].name == "001_initial_views"
    assert len(migrations[0].statements) == len(VIEW_TABLES)


# ---- insert and point query ------------------------------------------------------------------


def test_insert_and_point_query(migrated_view_store: ViewStore) -> None:
    store = migrated_view_store
    assert store.ping()
    columns = ["record_key", "person_id", "event_id", "agency", "subject_key", "id_number_bi", "phone_bi",
               "name_dob_bi", "gender", "first_seen", "version"]
    rows = [[f"rk-{i:04d}", f"p-{i % 7}", f"e-{i}", ["court", "police"][i % 2], f"sk-{i}", f"bi-{i}", "", "",
             "F", T0, 1] for i in range(500)]

    assert store.insert("person_records", rows, columns) == 500

    got = store.query_dicts("SELECT * FROM person_records FINAL WHERE record_key = {key:String}", {"key": "rk-0042"})
    assert got == [dict(zip(columns, rows[42], strict=True))]
    assert store.query_rows("SELECT count() FROM person_records WHERE person_id = {p:String}", {"p": "p-3"}) == [(71,)]
    assert store.query_rows("SELECT * FROM person_records WHERE record_key = 'missing'") == []


def test_arrays_nullable_and_timestamps_round_trip(migrated_view_store: ViewStore) -> None:
    store = migrated_view_store
    columns = ["case_id", "case_kind", "status", "office_code", "person_ids", "opened_at", "closed_at", "version"]
    store.insert("cases", [["c-1", "mediation", "open", "310101", ["p-1", "p-2"], T0, None, 1],
                           ["c-2", "legal_aid", "closed", "310102", [], T0, datetime(2024, 3, 2, 1, 0), 1]], columns)
    rows = store.query_rows("SELECT case_id, person_ids, opened_at, closed_at FROM cases FINAL ORDER BY case_id")
    assert rows == [("c-1", ["p-1", "p-2"], T0, None), ("c-2", [], T0, datetime(2024, 3, 2, 1, 0))]
    # Aware datetimes are stored as the same instant.
    store.insert("cases", [["c-3", "mediation", "open", "x", [], T0.replace(tzinfo=UTC), None, 1]], columns)
    assert store.query_rows("SELECT opened_at FROM cases WHERE case_id = 'c-3'") == [(T0,)]


# ---- ReplacingMergeTree semantics ------------------------------------------------------------


def test_final_keeps_the_highest_version(migrated_view_store: ViewStore) -> None:
    store = migrated_view_store
    _example_table(store)
    # Three separate inserts = three parts: the versions only meet in FINAL (or a merge).
    for row in _persons([("p-1", 3, 3, 0), ("p-1", 1, 1, 0), ("p-1", 2, 2, 0)]):
        store.insert(EXAMPLE, [row], PERSON_COLUMNS)
    store.insert(EXAMPLE, _persons([("p-2", 5, 1, 0)]), PERSON_COLUMNS)

    assert store.query_rows(f"SELECT count() FROM {EXAMPLE} WHERE person_id = 'p-1'") == [(3,)]
    assert store.query_rows(f"SELECT person_id, record_count, version FROM {EXAMPLE} FINAL ORDER BY person_id") == [
        ("p-1", 3, 3), ("p-2", 5, 1),
    ]
    # Replaying the same projection output changes nothing.
    store.insert(EXAMPLE, _persons([("p-1", 3, 3, 0), ("p-2", 5, 1, 0)]), PERSON_COLUMNS)
    assert store.query_rows(f"SELECT person_id, record_count FROM {EXAMPLE} FINAL ORDER BY person_id") == [
        ("p-1", 3), ("p-2", 5),
    ]
    store.command(f"OPTIMIZE TABLE {EXAMPLE} FINAL")
    assert store.query_rows(f"SELECT count() FROM {EXAMPLE}") == [(2,)]


def test_is_deleted_retracts_a_row_until_a_newer_version_restores_it(migrated_view_store: ViewStore) -> None:
    store = migrated_view_store
    columns = ["bi_kind", "bi", "person_id", "version", "is_deleted"]
    store.insert("person_lookup", [["id_number", "bi-a", "p-1", 1, 0], ["id_number", "bi-b", "p-1", 1, 0]], columns)
    lookup = "SELECT person_id FROM person_lookup FINAL WHERE bi_kind = {kind:String} AND bi = {bi:String}"
    assert store.query_rows(lookup, {"kind": "id_number", "bi": "bi-a"}) == [("p-1",)]

    store.insert("person_lookup", [["id_number", "bi-a", "p-1", 2, 1]], columns)  # retracted (e.g. a split)
    assert store.query_rows(lookup, {"kind": "id_number", "bi": "bi-a"}) == []
    assert store.query_rows(lookup, {"kind": "id_number", "bi": "bi-b"}) == [("p-1",)]

    store.insert("person_lookup", [["id_number", "bi-a", "p-1", 3, 0]], columns)
    assert store.query_rows(lookup, {"kind": "id_number", "bi": "bi-a"}) == [("p-1",)]
    # An older retraction replayed late does not win over the newer row.
    store.insert("person_lookup", [["id_number", "bi-a", "p-1", 2, 1]], columns)
    assert store.query_rows(lookup, {"kind": "id_number", "bi": "bi-a"}) == [("p-1",)]


# ---- parameters -------------------------------------------------------------------------------


def test_server_side_parameters(migrated_view_store: ViewStore) -> None:
    store = migrated_view_store
    _example_table(store)
    store.insert(EXAMPLE, _persons([(f"p-{i}", i, 1, 0) for i in range(10)]), PERSON_COLUMNS)
    tricky = "it's a \\ 'quoted' test 中文 --"

    assert store.query_rows("SELECT {s:String}, {n:UInt64} + 1", {"s": tricky, "n": 41}) == [(tricky, 42)]
    got = store.query_rows(
        f"SELECT person_id FROM {EXAMPLE} FINAL WHERE person_id IN {{ids:Array(String)}} AND record_count >= {{min:UInt32}} "
        "ORDER BY person_id",
        {"ids": ["p-2", "p-5", "p-9", tricky], "min": 5},
    )
    assert got == [("p-5",), ("p-9",)]
    at = store.query_rows(f"SELECT count() FROM {EXAMPLE} FINAL WHERE first_seen = {{t:DateTime64(3, 'UTC')}}", {"t": T0})
    assert at == [(10,)]
    assert store.command(f"SELECT count() FROM {EXAMPLE} WHERE person_id = {{p:String}}", {"p": tricky}) == 0


# ---- errors -----------------------------------------------------------------------------------


def test_sql_errors_are_clear(migrated_view_store: ViewStore) -> None:
    store = migrated_view_store
    with pytest.raises(ViewStoreError) as info:
        store.query_rows("SELECT * FROM no_such_table")
    message = str(info.value)
    assert info.value.code == 60 and info.value.backend == store.backend
    assert f"{store.backend} at {store.address}" in message and store.database in message
    assert "no_such_table" in message and "UNKNOWN_TABLE" in message
    assert not isinstance(info.value, ViewStoreUnavailable)

    with pytest.raises(ViewStoreError) as info:
        store.command("CREATE TABLE broken (")
    assert info.value.code == 62  # SYNTAX_ERROR

    with pytest.raises(ViewStoreError, match="insert into persons failed"):
        store.insert("persons", [["p-1"]], ["no_such_column"])


def test_clickhouse_server_down_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(view_backend="clickhouse", clickhouse_port=port, clickhouse_database="justlink")
    with pytest.raises(ViewStoreUnavailable, match=f"clickhouse at 127.0.0.1:{port}") as info:
        open_view_store(settings)
    assert "unavailable" in str(info.value)


def test_chdb_path_held_by_another_process_is_a_clear_error() -> None:
    """The embedded deployment is one process: a second process on the same data path must fail clearly."""
    chdb_http_server()  # this process holds the shared engine path open
    script = textwrap.dedent(f"""
        from runtime.settings import Settings
        from runtime.viewstore import ViewStoreUnavailable, open_view_store
        try:
            open_view_store(Settings(data_dir={str(chdb_data_dir())!r}, view_backend="chdb"))
        except ViewStoreUnavailable as exc:
            print(exc)
            raise SystemExit(3)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr[-2000:]
    assert f"chdb at {chdb_data_dir() / 'views'}" in done.stdout
    assert "one data path per process" in done.stdout


def test_second_chdb_path_in_one_process_is_a_clear_error(tmp_path) -> None:
    chdb_http_server()
    with pytest.raises(ViewStoreUnavailable, match=f"chdb at {tmp_path / 'views'}"):
        open_view_store(Settings(data_dir=tmp_path, view_backend="chdb"))


def test_bad_database_name_is_refused() -> None:
    with pytest.raises(ViewStoreError, match="clickhouse_database"):
        open_view_store(Settings(data_dir=chdb_data_dir(), clickhouse_database="x; DROP"))


# ---- the two deployments together --------------------------------------------------------------


def test_both_deployments_share_one_engine_in_one_process() -> None:
    database = unique_database("shared")
    with open_view_store(view_store_settings("chdb", database)) as embedded, \
            open_view_store(view_store_settings("clickhouse", database)) as http:
        assert embedded.migrate() == [m.name for m in load_migrations()]
        assert http.migrate() == []
        _example_table(embedded)
        http.insert(EXAMPLE, _persons([("p-http", 1, 1, 0)]), PERSON_COLUMNS)
        embedded.insert(EXAMPLE, _persons([("p-chdb", 2, 1, 0)]), PERSON_COLUMNS)
        query = f"SELECT person_id FROM {EXAMPLE} FINAL ORDER BY person_id"
        assert embedded.query_rows(query) == http.query_rows(query) == [("p-chdb",), ("p-http",)]
        embedded.command(f"DROP DATABASE `{database}`")


@pytest.mark.parametrize("compress", ["lz4", "zstd", "gzip", False])
def test_http_server_speaks_compressed_and_chunked_bodies(compress: str | bool) -> None:
    server = chdb_http_server()
    database = unique_database("http")
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=server.port, compress=compress, autogenerate_session_id=False
    )
    try:
        client.command(f"CREATE DATABASE `{database}`")
        client.database = database
        client.command("CREATE TABLE t (k UInt64, s LowCardinality(String), a Array(String)) "
                       "ENGINE = MergeTree ORDER BY k")
        server.encodings_seen.clear()
        rows = [[i, f"s{i % 3}", ["x"] * (i % 3)] for i in range(50_000)]
        assert client.insert("t", rows, column_names=["k", "s", "a"]).written_rows == 50_000
        result = client.query("SELECT k, s, a FROM t WHERE k >= {lo:UInt64} ORDER BY k", parameters={"lo": 49_998})
        assert result.result_rows == [(49_998, "s0", []), (49_999, "s1", ["x"])]
        assert client.query("SELECT * FROM t WHERE k > 1e9").result_rows == []
        if compress:
            assert {f"request:{compress}", f"response:{compress}", "request:chunked"} <= server.encodings_seen
        else:
            assert not any(seen.startswith(("request:lz4", "response:")) for seen in server.encodings_seen)
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{database}`")
        client.close()


def test_http_server_protocol_on_one_keep_alive_connection() -> None:
    server = chdb_http_server()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        def post(body: str, **params: str) -> http.client.HTTPResponse:
            conn.request("POST", "/?" + urlencode(params), body=body.encode())
            return conn.getresponse()

        conn.request("GET", "/ping")
        assert conn.getresponse().read() == b"Ok.\n"

        reply = post("", query="SELECT {n:UInt8} + 1", param_n="1")
        assert (reply.status, reply.read()) == (200, b"2\n")
        assert reply.getheader("X-ClickHouse-Format") == "TabSeparated"
        assert reply.getheader("X-ClickHouse-Query-Id") and reply.getheader("X-ClickHouse-Timezone")
        assert "read_rows" in reply.getheader("X-ClickHouse-Summary", "")

        reply = post("SELECT 1 WHERE 0")  # an empty result set still names its format
        assert (reply.read(), reply.getheader("X-ClickHouse-Format")) == (b"", "TabSeparated")

        reply = post("SELECT getSetting('max_threads') = 3", max_threads="3")  # URL parameters are settings
        assert reply.read() == b"1\n"
        reply = post("SELECT getSetting('max_threads') = 3")  # ... for that request only
        assert reply.read() == b"0\n"

        reply = post("SELECT * FROM no_such_table")
        assert reply.status == 500 and reply.getheader("X-ClickHouse-Exception-Code") == "60"
        assert b"UNKNOWN_TABLE" in reply.read()
    finally:
        conn.close()
