"""The reads behind the query API and the CLI, as plain functions over a ViewStore.

No access control here: the callers (hub/services/access.py) decide first and pass the event types
the decision allows. Every read is by the ORDER BY key of its table (person_id, bi, dispute_id),
with FINAL so replaced and retracted rows never show — the person's history applies FINAL's rule to
its few rows itself (`current_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runtime.viewstore import ViewStore

BI_KINDS = ("id_number", "phone", "name_dob")
TIMELINE_FIELDS = ("person_id", "occurred_at", "event_id", "party_index", "event_type", "agency", "office_code",
                   "stage", "dispute_id", "role", "restricted", "payload")
HISTORY_FIELDS = TIMELINE_FIELDS[1:]  # the caller knows whose history it asked for


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    agencies: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()  # narrows what the decision allows; never widens it
    since: datetime | None = None
    until: datetime | None = None
    dispute_id: str | None = None
    limit: int = 50
    offset: int = 0


def resolve_person(store: ViewStore, person_id: str) -> list[str]:
    """The live id of a person (a retired id redirects to the person it was merged into), then every
    retired id merged into it — the ids its timeline rows carry — in one read."""
    rows = store.query_rows(
        "WITH (SELECT if(count() = 0, {p:String}, any(person_id)) FROM person_redirects FINAL "
        "WHERE retired_id = {p:String}) AS live "
        "SELECT live, arraySort(groupArray(retired_id)) FROM person_aliases FINAL "
        "WHERE person_id = live AND is_deleted = 0", {"p": person_id})
    live, retired = (str(rows[0][0]), list(rows[0][1])) if rows else (person_id, [])
    return [live, *(str(r) for r in retired if r != live)]


def person_ids_of(store: ViewStore, person_id: str) -> list[str]:
    """The live id first, then every retired id merged into it: the ids its timeline rows carry."""
    rows = store.query_rows("SELECT retired_id FROM person_aliases FINAL WHERE person_id = {p:String} "
                            "AND is_deleted = 0 ORDER BY retired_id", {"p": person_id})
    return [person_id, *(str(r[0]) for r in rows if r[0] != person_id)]


def find_person_ids(store: ViewStore, kind: str, bi: str) -> list[str]:
    """Live person ids whose records carry this blind index (usually one; name + birth date may
    match several people)."""
    if kind not in BI_KINDS:
        raise ValueError(f"blind index kind {kind!r}: expected one of {', '.join(BI_KINDS)}")
    rows = store.query_rows(
        "SELECT DISTINCT if(r.person_id = '', l.person_id, r.person_id) FROM "
        "(SELECT person_id FROM person_lookup FINAL WHERE bi_kind = {k:String} AND bi = {bi:String} "
        " AND is_deleted = 0) AS l LEFT JOIN (SELECT retired_id, person_id FROM person_redirects FINAL) AS r "
        "ON r.retired_id = l.person_id", {"k": kind, "bi": bi})
    return sorted({str(r[0]) for r in rows})


def person_summary(store: ViewStore, ids: Sequence[str], event_types: Iterable[str]) -> dict[str, Any]:
    """Counts, agencies and first/last dates of the records of these ids that the caller may see."""
    types = sorted(event_types)
    rows = store.query_rows(
        "SELECT uniqExact(event_id), groupUniqArray(agency), min(occurred_at), max(occurred_at) "
        "FROM timeline FINAL WHERE person_id IN {ids:Array(String)} AND event_type IN {t:Array(String)} "
        "AND is_deleted = 0", {"ids": list(ids), "t": types}) if types else []
    count, agencies, first, last = rows[0] if rows else (0, [], None, None)
    return {"events": int(count), "agencies": sorted(agencies), "first_at": first if count else None,
            "last_at": last if count else None}


def history_rows(store: ViewStore, ids: Sequence[str], event_types: Iterable[str],
                 flt: HistoryFilter) -> tuple[list[dict[str, Any]], int]:
    """One page of a person's timeline rows, newest first, and the total before paging.

    One point read by the ORDER BY key (`person_id IN ids`, and the time range, also of the key); the rest
    is done here on the person's few tens of rows, where it costs less than in chDB: what FINAL would keep
    (`current_rows`, ~0.6–0.9 ms less per read than FINAL), then the event types, agencies and thread —
    filters on columns a newer version of a row may change, so only after it —, one row per event (a
    person can be two parties of one event, or appear under a retired id), the order and the page."""
    types = set(event_types)
    if flt.event_types:
        types &= set(flt.event_types)
    if not types or not ids:
        return [], 0
    where = ["person_id IN {ids:Array(String)}"]
    params: dict[str, Any] = {"ids": list(ids)}
    if flt.since is not None:
        where.append("occurred_at >= {since:DateTime64(3, 'UTC')}")
        params["since"] = flt.since
    if flt.until is not None:
        where.append("occurred_at < {until:DateTime64(3, 'UTC')}")
        params["until"] = flt.until
    rows = current_rows(store.query_dicts(f"SELECT {', '.join(_VERSIONED_TIMELINE)} FROM timeline "
                                          f"WHERE {' AND '.join(where)}", params))
    agencies = set(flt.agencies)
    threads = {flt.dispute_id, *retired_dispute_ids(store, flt.dispute_id)} if flt.dispute_id else set()
    rows = sorted((r for r in rows if r["event_type"] in types and (not agencies or r["agency"] in agencies)
                   and (not threads or r["dispute_id"] in threads)), key=lambda r: r["party_index"])
    rows.sort(key=lambda r: (r["occurred_at"], r["event_id"]), reverse=True)
    per_event: dict[str, dict[str, Any]] = {}
    for row in rows:
        per_event.setdefault(row["event_id"], row)  # the lowest party index of the event
    unique = list(per_event.values())
    return unique[flt.offset:flt.offset + flt.limit], len(unique)


_VERSIONED_TIMELINE = (*TIMELINE_FIELDS, "version", "is_deleted")
_TIMELINE_KEY = ("person_id", "occurred_at", "event_id", "party_index")   # the table's ORDER BY


def current_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What SELECT ... FINAL keeps of timeline rows read with their `version` and `is_deleted`
    (ReplacingMergeTree(version, is_deleted)): per sorting key the row of the highest version, unless it
    is a deletion. The projector's versions never repeat for a key (a tie would be resolved towards the
    deletion). Returns the rows with HISTORY_FIELDS only."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in _TIMELINE_KEY)
        held = latest.get(key)
        if held is None or (row["version"], row["is_deleted"]) > (held["version"], held["is_deleted"]):
            latest[key] = row
    return [{k: row[k] for k in HISTORY_FIELDS} for row in latest.values() if not row["is_deleted"]]


def dispute_redirects(store: ViewStore, dispute_ids: Iterable[str]) -> dict[str, str]:
    """retired thread id -> live thread id, for the ids given that were merged."""
    ids = sorted({d for d in dispute_ids if d})
    if not ids:
        return {}
    rows = store.query_rows("SELECT retired_id, dispute_id FROM dispute_redirects FINAL "
                            "WHERE retired_id IN {ids:Array(String)}", {"ids": ids})
    return {str(a): str(b) for a, b in rows}


def retired_dispute_ids(store: ViewStore, dispute_id: str) -> list[str]:
    rows = store.query_rows("SELECT retired_id FROM dispute_redirects FINAL WHERE dispute_id = {d:String}",
                            {"d": dispute_id})
    return [str(r[0]) for r in rows]


def person_dispute_ids(store: ViewStore, ids: Sequence[str], event_types: Iterable[str]) -> list[str]:
    """The threads the person's visible records joined (as stored; map them with dispute_redirects)."""
    types = sorted(event_types)
    if not types:
        return []
    rows = store.query_rows(
        "SELECT DISTINCT dispute_id FROM timeline FINAL WHERE person_id IN {ids:Array(String)} "
        "AND event_type IN {t:Array(String)} AND dispute_id != '' AND is_deleted = 0",
        {"ids": list(ids), "t": types})
    return sorted(str(r[0]) for r in rows)


def thread_events(store: ViewStore, dispute_ids: Sequence[str], event_types: Iterable[str]) -> list[dict[str, Any]]:
    """Every event of these threads (any party) of the allowed types, oldest first."""
    types = sorted(event_types)
    if not types or not dispute_ids:
        return []
    return store.query_dicts(
        "SELECT dispute_id, event_id, occurred_at, stage, agency, event_type FROM dispute_events FINAL "
        "WHERE dispute_id IN {d:Array(String)} AND event_type IN {t:Array(String)} AND is_deleted = 0 "
        "ORDER BY occurred_at, event_id", {"d": list(dispute_ids), "t": types})


def alerts_for(store: ViewStore, ids: Sequence[str], role: str | None = None,
               dispute_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Alerts about these person ids, or about these threads with no person named (for one role, when
    given), open ones and the newest first."""
    where = ("(person_id IN {ids:Array(String)} OR (person_id = '' AND dispute_id IN {d:Array(String)})) "
             "AND is_deleted = 0")
    params: dict[str, Any] = {"ids": list(ids), "d": list(dispute_ids)}
    if role:
        where += " AND role = {role:String}"
        params["role"] = role
    return store.query_dicts(
        "SELECT alert_id, person_id, dispute_id, rule, level, role, status, raised_at, updated_at, evidence "
        f"FROM alerts FINAL WHERE {where} "
        "ORDER BY status = 'open' DESC, indexOf(['red', 'yellow', 'blue'], level), raised_at DESC", params)


def subject_key_of(store: ViewStore, person_id: str) -> str | None:
    """A keystore subject key of the person (to seal a break-glass reason under it)."""
    rows = store.query_rows("SELECT subject_key FROM person_records FINAL WHERE person_id = {p:String} "
                            "AND subject_key != '' ORDER BY first_seen LIMIT 1", {"p": person_id})
    return str(rows[0][0]) if rows else None
