"""The views' cluster form is derived from the same migrations as the single-node form: replicated local
tables (Keeper paths with the shard and replica macros), Distributed tables over them sharded by the
first ORDER BY column, tables of events partitioned by month, the audit view's retention as a TTL. No
ClickHouse cluster can run here, so the cluster DDL's table definitions are executed on chDB with the
cluster-only clauses taken out: what is left must be valid ClickHouse."""

from __future__ import annotations

import re

import pytest

from runtime.viewstore import open_view_store
from runtime.viewstore.cluster import PARTITION_BY, ClusterDDLError, Layout
from runtime.viewstore.migrations import load_migrations
from tests.support.viewstore import view_store_settings

STATEMENTS = [s for m in load_migrations() for s in m.statements]
CREATES = [s for s in STATEMENTS if s.startswith("CREATE TABLE")]
TABLES = [re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", s).group(1) for s in CREATES]


def test_one_node_runs_the_migrations_as_written() -> None:
    assert all(Layout().statements(s) == [s] for s in STATEMENTS)


def test_every_table_has_a_replicated_local_table_and_a_distributed_one() -> None:
    layout = Layout(cluster="justlink", database="views", audit_retention_years=3)
    for statement, table in zip(CREATES, TABLES, strict=True):
        local, distributed = layout.statements(statement)
        assert local.startswith(f"CREATE TABLE IF NOT EXISTS {table}_local ON CLUSTER justlink (")
        assert "ENGINE = Replicated" in local
        assert f"'/clickhouse/tables/{{shard}}/views/{table}_local', '{{replica}}'" in local
        assert ("PARTITION BY toYYYYMM(" in local) == (table in PARTITION_BY)
        assert ("TTL " in local) == (table == "audit_log")
        assert distributed.startswith(f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER justlink AS {table}_local")
        assert f"ENGINE = Distributed(justlink, views, {table}_local, cityHash64(" in distributed
    assert {"timeline", "dispute_events", "audit_log"} <= set(TABLES)


def test_alter_reaches_both_tables_and_other_statements_are_refused() -> None:
    layout = Layout(cluster="justlink", database="views")
    assert layout.statements("ALTER TABLE timeline ADD COLUMN note String DEFAULT ''") == [
        "ALTER TABLE timeline_local ON CLUSTER justlink ADD COLUMN note String DEFAULT ''",
        "ALTER TABLE timeline ON CLUSTER justlink ADD COLUMN note String DEFAULT ''"]
    assert layout.statements("DROP TABLE IF EXISTS persons") == [
        "DROP TABLE IF EXISTS persons_local ON CLUSTER justlink", "DROP TABLE IF EXISTS persons ON CLUSTER justlink"]
    assert layout.statements("CREATE VIEW IF NOT EXISTS persons AS SELECT 1") == [
        "CREATE VIEW IF NOT EXISTS persons ON CLUSTER justlink AS SELECT 1"]
    with pytest.raises(ClusterDDLError, match="no cluster form"):
        layout.statements("INSERT INTO timeline VALUES (1)")


def test_a_table_rebuilt_under_a_new_name_keeps_its_cluster_form() -> None:
    """Migration 006's moves: the copy through the Distributed tables, the exchange of the local tables
    (each Distributed table names its local one), and both of the old tables dropped."""
    layout = Layout(cluster="justlink", database="views")
    assert layout.statements("INSERT INTO timeline_by_person SELECT * FROM timeline") == [
        "INSERT INTO timeline_by_person SELECT * FROM timeline"]
    assert layout.statements("EXCHANGE TABLES timeline AND timeline_by_person") == [
        "EXCHANGE TABLES timeline_local AND timeline_by_person_local ON CLUSTER justlink"]
    assert layout.statements("DROP TABLE timeline_by_person") == [
        "DROP TABLE timeline_by_person_local ON CLUSTER justlink",
        "DROP TABLE timeline_by_person ON CLUSTER justlink"]
    rebuilt = next(s for s in STATEMENTS if s.startswith("CREATE TABLE IF NOT EXISTS timeline_by_person"))
    local, _ = layout.statements(rebuilt)
    assert "PARTITION BY toYYYYMM(occurred_at)" in local and "index_granularity = 128" in local
    for statement in STATEMENTS:  # every shipped statement has a cluster form
        assert layout.statements(statement)


def _single_node_equivalent(local: str) -> str:
    """The local table's DDL without what only a cluster understands."""
    text = re.sub(r" ON CLUSTER \w+", "", local)
    return re.sub(r"Replicated(\w+)\('[^']*', '[^']*'(?:, )?", r"\1(", text)


def test_the_cluster_tables_are_valid_clickhouse() -> None:
    """On this process's chDB engine (one engine per process: tests share it, each with its database)."""
    store = open_view_store(view_store_settings("chdb"))
    layout = Layout(cluster="justlink", database=store.database, audit_retention_years=3)
    try:
        for statement in CREATES:
            local, _ = layout.statements(statement)
            store.command(_single_node_equivalent(local))
        names = {row[0] for row in store.query_rows(
            "SELECT name FROM system.tables WHERE database = {db:String}", {"db": store.database})}
        assert {f"{t}_local" for t in TABLES} <= names
        [(key,)] = store.query_rows("SELECT partition_key FROM system.tables WHERE database = {db:String} "
                                    "AND name = 'timeline_local'", {"db": store.database})
        assert "toYYYYMM(occurred_at)" in key
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()
