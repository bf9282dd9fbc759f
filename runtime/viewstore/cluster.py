"""The views' DDL in its two forms: one node (the migrations as written, for chDB and a single server)
and a ClickHouse cluster (setting `clickhouse_cluster`), derived from the same statements so the two
cannot drift.

On a cluster every `CREATE TABLE t (...) ENGINE = ReplacingMergeTree(...) ORDER BY k` becomes
- `t_local ON CLUSTER c`: ReplicatedReplacingMergeTree under `/clickhouse/tables/{shard}/<db>/t_local`
  with the `{replica}` macro — each shard's replicas keep the same rows (ClickHouse Keeper coordinates);
  tables of events are PARTITION BY month of event time (old months can be moved or dropped whole);
  the audit view keeps `audit_view_retention_years` (TTL) when set — the Cybersecurity Law asks network
  logs to be kept at least six months, the bureau decides how long beyond; the audit trail itself stays
  on the log, so the view can be rebuilt;
- `t ON CLUSTER c`: a Distributed table over `t_local`, sharded by a hash of the first ORDER BY column, so
  every version of a row lands on one shard and FINAL / ReplacingMergeTree replace it there.
Reads and writes go to `t`: the application's SQL is the same in both forms.
`ALTER TABLE t ...` and `DROP TABLE [IF EXISTS] t` are applied to both `t_local` and `t`, on the whole
cluster; `CREATE VIEW v AS SELECT ...` (a view computed from the tables: persons, disputes) is created
on every node and reads the Distributed tables; `EXCHANGE TABLES a AND b` goes to the local tables (each
Distributed table names its local one, so it then reads the other's rows); `INSERT INTO t SELECT ...`
runs once, as written: the Distributed tables route the rows to their shards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PARTITION_BY = {  # tables of events: a month of event time per partition (the key never changes for a row)
    "timeline": "toYYYYMM(occurred_at)",
    "timeline_by_person": "toYYYYMM(occurred_at)",  # becomes timeline (migration 006)
    "dispute_events": "toYYYYMM(occurred_at)",
    "audit_log": "toYYYYMM(at)",
}
RETENTION_COLUMN = {"audit_log": "at"}

_CREATE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<name>\w+)\s*\((?P<columns>.*)\)\s*ENGINE\s*=\s*(?P<engine>\w+)"
    r"(?:\((?P<args>[^)]*)\))?\s*(?P<order>ORDER BY .*?)\s*(?P<settings>SETTINGS .*)?$",
    re.DOTALL | re.IGNORECASE)
_ALTER = re.compile(r"^ALTER TABLE (?P<name>\w+)\s+(?P<rest>.*)$", re.DOTALL | re.IGNORECASE)
_DROP = re.compile(r"^DROP TABLE (?P<if_exists>IF EXISTS )?(?P<name>\w+)$", re.IGNORECASE)
_VIEW = re.compile(r"^CREATE VIEW IF NOT EXISTS (?P<name>\w+) AS (?P<select>.*)$", re.DOTALL | re.IGNORECASE)
_EXCHANGE = re.compile(r"^EXCHANGE TABLES (?P<a>\w+) AND (?P<b>\w+)$", re.IGNORECASE)
_INSERT_SELECT = re.compile(r"^INSERT INTO \w+ SELECT ", re.IGNORECASE)
_ORDER_FIRST = re.compile(r"ORDER BY\s*\(?\s*(\w+)", re.IGNORECASE)


class ClusterDDLError(ValueError):
    """A migration statement has no cluster form; the message names the statement."""


@dataclass(frozen=True)
class Layout:
    cluster: str = ""                 # "" : one node
    database: str = "justlink"
    audit_retention_years: int = 0    # 0: keep

    @property
    def clustered(self) -> bool:
        return bool(self.cluster)

    def statements(self, statement: str) -> list[str]:
        """The statement as this layout runs it."""
        if not self.clustered:
            return [statement]
        text = " ".join(statement.split())
        create = _CREATE.match(text)
        if create:
            return self._create(create)
        drop = _DROP.match(text)
        if drop:
            name, if_exists = drop.group("name"), drop.group("if_exists") or ""
            return [f"DROP TABLE {if_exists}{name}_local ON CLUSTER {self.cluster}",
                    f"DROP TABLE {if_exists}{name} ON CLUSTER {self.cluster}"]
        view = _VIEW.match(text)
        if view:
            return [f"CREATE VIEW IF NOT EXISTS {view.group('name')} ON CLUSTER {self.cluster} AS "
                    f"{view.group('select')}"]
        alter = _ALTER.match(text)
        if alter:
            name, rest = alter.group("name"), alter.group("rest")
            return [f"ALTER TABLE {name}_local ON CLUSTER {self.cluster} {rest}",
                    f"ALTER TABLE {name} ON CLUSTER {self.cluster} {rest}"]
        exchange = _EXCHANGE.match(text)
        if exchange:
            return [f"EXCHANGE TABLES {exchange.group('a')}_local AND {exchange.group('b')}_local "
                    f"ON CLUSTER {self.cluster}"]
        if _INSERT_SELECT.match(text):
            return [text]
        raise ClusterDDLError(f"no cluster form for the statement starting {text[:60]!r}: write CREATE TABLE "
                              "IF NOT EXISTS ... ENGINE = ... ORDER BY ..., CREATE VIEW IF NOT EXISTS ... AS, "
                              "DROP TABLE [IF EXISTS] ..., ALTER TABLE ..., EXCHANGE TABLES a AND b or "
                              "INSERT INTO t SELECT ...")

    def _create(self, m: re.Match[str]) -> list[str]:
        name, engine, args = m.group("name"), m.group("engine"), (m.group("args") or "").strip()
        local = f"{name}_local"
        path = f"'/clickhouse/tables/{{shard}}/{self.database}/{local}'"
        replicated = f"Replicated{engine}({path}, '{{replica}}'{', ' + args if args else ''})"
        parts = [f"CREATE TABLE IF NOT EXISTS {local} ON CLUSTER {self.cluster} ({m.group('columns').strip()})",
                 f"ENGINE = {replicated}"]
        if name in PARTITION_BY:
            parts.append(f"PARTITION BY {PARTITION_BY[name]}")
        parts.append(m.group("order").strip())
        if name in RETENTION_COLUMN and self.audit_retention_years > 0:
            parts.append(f"TTL toDateTime({RETENTION_COLUMN[name]}) + INTERVAL {self.audit_retention_years} YEAR")
        if m.group("settings"):
            parts.append(m.group("settings").strip())
        first = _ORDER_FIRST.search(m.group("order"))
        shard_key = f"cityHash64({first.group(1)})" if first else "rand()"
        distributed = (f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {self.cluster} AS {local} "
                       f"ENGINE = Distributed({self.cluster}, {self.database}, {local}, {shard_key})")
        return [" ".join(parts), distributed]
