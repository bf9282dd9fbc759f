"""What a PersonErased does to the views: the person's timeline rows, look-ups and alerts are deleted,
their record rows redacted (no subject key, no blind index), and rows of their events recorded before
the erasure are never projected again (a replay, `views rebuild`, events that arrive late on another
partition). Other parties' rows of the same events stay: their payloads hold the erased person's
fields as ciphertext whose key no longer exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from runtime.clock import to_utc
from runtime.viewstore.store import ViewStore

# table -> index of the person id in a row of it (as the projector builds rows)
PERSON_COLUMN = {"timeline": 0, "person_lookup": 2, "person_records": 1, "alerts": 1}


class ErasedPersons:
    """person id -> when it was erased; loaded from the `erasures` view, grown by PersonErased."""

    def __init__(self, store: ViewStore) -> None:
        self.at: dict[str, datetime] = {str(p): to_utc(at) for p, at in
                                        store.query_rows("SELECT person_id, erased_at FROM erasures FINAL")}

    def hides(self, person_id: str, recorded_at: Any) -> bool:
        """A row of this person for an event recorded before their erasure is not projected."""
        erased = self.at.get(person_id)
        return erased is not None and to_utc(recorded_at) <= erased


def erasure_rows(store: ViewStore, person_ids: Iterable[str], erased_at: datetime, version: int,
                 alerts: Iterable[dict[str, Any]], rows: dict[str, list[list[Any]]]) -> None:
    """Append to `rows` the deletions and redactions of these persons, and drop their rows that the
    current batch was about to insert."""
    ids = sorted(set(person_ids))
    for table, column in PERSON_COLUMN.items():
        rows[table] = [row for row in rows.get(table, []) if row[column] not in ids]
    params = {"ids": ids}
    for row in store.query_rows(
            "SELECT person_id, occurred_at, event_id, party_index, event_type, agency, office_code, stage, "
            "dispute_id, role, restricted FROM timeline FINAL WHERE person_id IN {ids:Array(String)} "
            "AND is_deleted = 0", params):
        rows["timeline"].append([*row, "", version, 1])
    for kind, bi, person_id in store.query_rows(
            "SELECT bi_kind, bi, person_id FROM person_lookup FINAL WHERE person_id IN {ids:Array(String)} "
            "AND is_deleted = 0", params):
        rows["person_lookup"].append([kind, bi, person_id, version, 1])
    for record_key, person_id, event_id, agency, first_seen in store.query_rows(
            "SELECT record_key, person_id, event_id, agency, first_seen FROM person_records FINAL "
            "WHERE person_id IN {ids:Array(String)}", params):
        rows["person_records"].append([record_key, person_id, event_id, agency, "", "", "", "", "", first_seen,
                                       version])
    for alert in alerts:
        if alert["person_id"] in ids:
            rows["alerts"].append([*(alert[c] for c in ("alert_id", "person_id", "dispute_id", "rule", "level",
                                                         "role", "status", "raised_at", "updated_at", "evidence")),
                                   version, 1])
    rows["erasures"] = [*rows.get("erasures", []), *([p, erased_at, version] for p in ids)]
