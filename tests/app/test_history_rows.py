"""The person's history reads the timeline without FINAL and applies ReplacingMergeTree's rule itself
(hub/services/queries.current_rows): it must return exactly what FINAL returns — replaced rows, retracted
rows, rows restored by a newer version, older versions arriving late, and filters on columns a newer
version changes (the thread, after a correction) — on both deployments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.services.queries import HISTORY_FIELDS, HistoryFilter, history_rows
from runtime.viewstore import ViewStore
from tests.support import viewstore as fixtures

migrated_view_store = fixtures.migrated_view_store

COLUMNS = ["person_id", "occurred_at", "event_id", "party_index", "event_type", "agency", "office_code", "stage",
           "dispute_id", "role", "restricted", "payload", "version", "is_deleted"]
PERSON, OTHER = "P3f9a0c1d2e3b4a59", "P00aa11bb22cc33dd"
T0 = datetime(2025, 5, 2, 16, 0, tzinfo=UTC)   # 2025-05-03 00:00 in Asia/Shanghai


def row(event: str, minutes: int, dispute: str, version: int, deleted: int = 0, *, person: str = PERSON,
        agency: str = "court", party: int = 0) -> list:
    return [person, T0 + timedelta(minutes=minutes), event, party, "CaseFiled", agency, "411730", "court_filing",
            dispute, "plaintiff", 0, "payload-" + event, version, deleted]


def final(store: ViewStore, flt: HistoryFilter) -> list[dict]:
    """The same page as history_rows, the old way: FINAL and the filters in SQL."""
    where, params = ["person_id IN {ids:Array(String)}"], {"ids": [PERSON]}
    if flt.agencies:
        where.append("agency IN {a:Array(String)}")
        params["a"] = list(flt.agencies)
    if flt.dispute_id:
        where.append("dispute_id = {d:String}")
        params["d"] = flt.dispute_id
    rows = store.query_dicts(f"SELECT {', '.join(HISTORY_FIELDS)} FROM timeline FINAL WHERE {' AND '.join(where)} "
                             "ORDER BY occurred_at DESC, event_id DESC, party_index", params)
    seen: dict[str, dict] = {}
    for r in rows:
        seen.setdefault(r["event_id"], r)
    return list(seen.values())


def test_history_rows_keep_what_final_keeps(migrated_view_store: ViewStore) -> None:
    store = migrated_view_store
    parts = [
        [row("court:（2024）豫1730民初1号#1", 0, "Da", 1), row("police:城关派出所-2024-0007#1", 5, "Db", 1, agency="police"),
         row("justice:（2024）城关调字第2号#1", 9, "Dc", 1, agency="justice"), row("court:other#1", 1, "Dz", 1, person=OTHER)],
        [row("court:（2024）豫1730民初1号#1", 0, "Db", 4)],                      # moved to another thread
        [row("police:城关派出所-2024-0007#1", 5, "Db", 3, deleted=1)],         # retracted (a split)
        [row("justice:（2024）城关调字第2号#1", 9, "Dc", 2, deleted=1),            # retracted, then restored
         row("justice:（2024）城关调字第2号#1", 9, "Dd", 5)],
        [row("court:（2024）豫1730民初1号#1", 0, "Da", 2)],                      # an older version, late
        [row("court:（2024）豫1730民初1号#1", 0, "Db", 4, party=1)],             # the person is two parties
    ]
    for part in parts:   # one insert each: the versions only meet in FINAL or in a merge
        store.insert("timeline", part, COLUMNS)
    types = {"CaseFiled"}
    for flt in (HistoryFilter(), HistoryFilter(dispute_id="Db"), HistoryFilter(dispute_id="Da"),
                HistoryFilter(agencies=("justice",)), HistoryFilter(agencies=("police",)), HistoryFilter(limit=1)):
        got, total = history_rows(store, [PERSON], types, flt)
        expected = final(store, flt)
        assert total == len(expected), flt
        assert got == expected[flt.offset:flt.offset + flt.limit], flt
    everything, _ = history_rows(store, [PERSON], types, HistoryFilter())
    assert [(r["event_id"], r["dispute_id"]) for r in everything] == [
        ("justice:（2024）城关调字第2号#1", "Dd"), ("court:（2024）豫1730民初1号#1", "Db")]
