"""Projects the log into the shared views (ClickHouse / chDB tables).

Inputs: EventResolved (timeline, person lookup, person records, dispute events, the event's plain
facts: event_facts, and the agencies' case events: cases),
PersonsMerged (person redirects and aliases), PersonSplit (the moved records' rows follow
them to the new person), PersonErased (streams/views/erasure.py), DisputeThreaded with
merged_into (dispute redirects) or with previous_dispute_id (a correction: the event's rows
move to the thread), Alert* (alerts), and the audit topic (audit_log). Every write is an
insert into a ReplacingMergeTree keyed by the row's identity, so replaying the log gives the
same tables (`justlink views rebuild`). Redirect chains are flattened: a retired id always
points at the live one (an id made live again points at itself), and `person_aliases` lists
a live person's retired ids so a history is two point reads. A correction or a split reads
the rows it moves by point reads on the person ids (and what this batch wrote before it),
re-inserts them and tombstones the old keys.
"""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from consent.access.cases import CASE_EVENTS, Case, InMemoryCaseDirectory
from runtime.clock import to_utc
from runtime.eventlog.base import Record
from runtime.topics import ALERTS_TOPIC, AUDIT_TOPIC, DISPUTES_TOPIC, IDENTITY_TOPIC, RESOLVED_TOPIC
from runtime.viewstore.store import ViewStore
from schemas.wire import AvroCodec, default_codec
from streams.views.erasure import ErasedPersons, erasure_rows
from streams.views.facts import FACT_COLUMNS, fact_row
from streams.views.redirects import MergeMap

VIEW_TOPICS = (RESOLVED_TOPIC, IDENTITY_TOPIC, DISPUTES_TOPIC, ALERTS_TOPIC, AUDIT_TOPIC)

TIMELINE_COLUMNS = ["person_id", "occurred_at", "event_id", "party_index", "event_type", "agency", "office_code",
                    "stage", "dispute_id", "role", "restricted", "payload", "version", "is_deleted"]
LOOKUP_COLUMNS = ["bi_kind", "bi", "person_id", "version", "is_deleted"]
RECORD_COLUMNS = ["record_key", "person_id", "event_id", "agency", "subject_key", "id_number_bi", "phone_bi",
                  "name_dob_bi", "gender", "first_seen", "version"]
DISPUTE_EVENT_COLUMNS = ["dispute_id", "event_id", "occurred_at", "stage", "agency", "event_type", "version",
                         "is_deleted"]
ALERT_COLUMNS = ["alert_id", "person_id", "dispute_id", "rule", "level", "role", "status", "raised_at",
                 "updated_at", "evidence", "version", "is_deleted"]
CASE_COLUMNS = ["case_id", "case_kind", "status", "office_code", "office_name", "person_ids", "opened_at", "closed_at",
                "version"]
EPOCH = to_utc(0)
AUDIT_COLUMNS = ["seq", "at", "user_id", "role", "organisation", "purpose", "case_id", "subject", "decision",
                 "rule", "event_types", "field_classes", "break_glass_reason", "prev_hash", "hash"]


class _Version:
    """Monotonic row versions for this projector (ns clock, never repeating)."""

    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> int:
        self.last = max(self.last + 1, time.time_ns())
        return self.last


class ViewProjector:
    def __init__(self, store: ViewStore, codec: AvroCodec | None = None) -> None:
        self.store = store
        self.codec = codec or default_codec()
        self.version = _Version()
        self.persons = MergeMap()
        self.disputes = MergeMap()
        self.alerts: dict[str, dict[str, Any]] = {}
        self.cases = InMemoryCaseDirectory()  # as the events say; the policy's lifetimes apply on read
        self.last_written: dict[str, int] = {}  # rows per table of the last apply (for metrics)
        self._batch = _Batch(defaultdict(list))
        self._load()
        self.erased = ErasedPersons(store)

    def _load(self) -> None:
        """The small maps the projector keeps in memory, read back from the views."""
        self.persons.load(self.store.query_rows("SELECT retired_id, person_id FROM person_redirects FINAL"))
        self.disputes.load(self.store.query_rows("SELECT retired_id, dispute_id FROM dispute_redirects FINAL"))
        for row in self.store.query_dicts(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts FINAL"):
            self.alerts[row["alert_id"]] = row
        for row in self.store.query_dicts(f"SELECT {', '.join(CASE_COLUMNS)} FROM cases FINAL"):
            self.cases.restore(Case(row["case_id"], row["case_kind"], row["status"] == "open", row["office_code"],
                                    frozenset(row["person_ids"]), to_utc(row["opened_at"]),
                                    to_utc(row["closed_at"]) if row["closed_at"] is not None else None,
                                    row["office_name"]))

    # -- batches --------------------------------------------------------------------------------
    def apply_records(self, records: Iterable[Record]) -> int:
        """Project log records (any of VIEW_TOPICS); returns how many rows were written. Records of a type
        no handler projects (PersonLinked: one per party) are skipped by their schema id, undecoded."""
        decoded: list[tuple[str, dict[str, Any]]] = []
        audit: list[bytes] = []
        for record in records:
            if record.topic == AUDIT_TOPIC:
                audit.append(record.value)
            elif hasattr(self, f"_on_{self.codec.event_type_of(record.value)}"):
                decoded.append(self.codec.decode(record.value))
        return self.apply(decoded, audit)

    def apply(self, events: Iterable[tuple[str, dict[str, Any]]], audit: Iterable[bytes] = ()) -> int:
        rows: dict[str, list[list[Any]]] = defaultdict(list)
        self._batch = _Batch(rows)
        for event_type, record in events:
            handler = getattr(self, f"_on_{event_type}", None)
            if handler is not None:
                handler(record, rows)
        for value in audit:
            rows["audit_log"].append(self._audit_row(value))
        written = 0
        self.last_written = {}
        for table, table_rows in rows.items():
            if table_rows:
                self.last_written[table] = self.store.insert(table, table_rows, COLUMNS[table])
                written += self.last_written[table]
        return written

    # -- handlers --------------------------------------------------------------------------------
    def _on_EventResolved(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        event_type, event = self.codec.decode(r["payload"])
        payload = base64.b64encode(r["payload"]).decode("ascii")
        occurred = to_utc(r["occurred_at"])
        restricted = 1 if r.get("restricted") else 0
        v = self.version()
        dispute_id = self.disputes.live(r["dispute_id"]) if r["dispute_id"] else ""
        recorded_at = (event.get("envelope") or {}).get("recorded_at") or occurred
        for index, (party, person_id) in enumerate(zip(event.get("parties") or [], r["person_ids"], strict=False)):
            if not person_id or self.erased.hides(self.persons.live(person_id), recorded_at) \
                    or self.erased.hides(person_id, recorded_at):
                continue
            self._batch.timeline(rows, [person_id, occurred, r["event_ref"], index, event_type, r["source_agency"],
                                        r["source_office_code"], r["stage"] or "", dispute_id, party["role"],
                                        restricted, payload, v, 0])
            protection = party.get("protection") or {}
            live = self.persons.live(person_id)
            for kind, field in (("id_number", "id_number_bi"), ("phone", "phone_bi"), ("name_dob", "name_dob_bi")):
                bi = protection.get(field)
                if bi and (kind != "id_number" or protection.get("id_number_valid") is not False):
                    rows["person_lookup"].append([kind, bi, live, v, 0])
            self._batch.record(rows, [
                f"{r['event_ref']}#{index}", live, r["event_ref"], r["source_agency"],
                protection.get("subject_key", ""), protection.get("id_number_bi") or "",
                protection.get("phone_bi") or "", protection.get("name_dob_bi") or "", party.get("gender") or "",
                occurred, v])
        if dispute_id:
            self._batch.dispute_event(rows, [dispute_id, r["event_ref"], occurred, r["stage"] or "other",
                                             r["source_agency"], event_type, v, 0])
        self._batch.fact(rows, fact_row(event_type, event, r, occurred, v))
        if event_type in CASE_EVENTS and event.get(CASE_EVENTS[event_type][1]):
            self.cases.apply_event(event_type, {**event, "person_ids": list(r["person_ids"])})
            self._case_row(str(event[CASE_EVENTS[event_type][1]]), rows)

    def _case_row(self, case_id: str, rows: dict[str, list[list[Any]]]) -> None:
        case = self.cases.case(case_id)
        if case is not None:
            rows["cases"].append([case.case_id, case.kind, "open" if case.is_open else "closed", case.office,
                                  case.office_name, sorted(case.parties), case.opened_at or EPOCH, case.closed_at,
                                  self.version()])

    def _on_PersonsMerged(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        retired = r["retired_person_id"]
        touched = self.cases.case_ids_of(retired)
        self.cases.apply_event("PersonsMerged", r)
        for case_id in touched:
            self._case_row(case_id, rows)
        moved = self.persons.merge(retired, r["surviving_person_id"])
        survivor = self.persons.live(retired)
        v = self.version()
        for old in moved:
            rows["person_redirects"].append([old, survivor, v])
            rows["person_aliases"].append([survivor, old, v, 0])
            rows["person_aliases"].append([retired, old, v, 1])

    def _on_PersonErased(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        at = to_utc(r["envelope"]["occurred_at"])
        ids = set(r["person_ids"])
        self.erased.at.update(dict.fromkeys(ids, at))
        erased_alerts = [a for a in self.alerts.values() if a["person_id"] in ids]
        for alert in erased_alerts:
            del self.alerts[alert["alert_id"]]
        erasure_rows(self.store, ids, at, self.version(), erased_alerts, rows)
        for case_id in sorted({c for person in ids for c in self.cases.forget_party(person)}):
            self._case_row(case_id, rows)   # the case stays; the erased person is no longer named in it

    def _on_PersonSplit(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        """Records moved to another person: their person records, timeline rows and lookup rows follow."""
        old, new = r["person_id"], r["new_person_id"]
        keys = set(r["record_keys"])
        v = self.version()
        live_old = self.persons.live(old)
        ids = [live_old, *sorted(self.persons.retired(live_old) - {new})]
        revived_from = self.persons.live(new)
        if self.persons.lift(new):   # the new person had been merged away before: live again
            rows["person_redirects"].append([new, new, v])
            rows["person_aliases"].append([revived_from, new, v, 1])
            for row in self._rows_of(TIMELINE_COLUMNS, [new], None):   # its other rows stay where they were
                if f"{row[2]}#{row[3]}" not in keys:
                    self._batch.timeline(rows, [revived_from, *row[1:12], v, 0])
                    self._batch.timeline(rows, [*row[:12], v, 1])
        for row in self._rows_of(TIMELINE_COLUMNS, ids, sorted({k.rsplit("#", 1)[0] for k in keys})):
            if f"{row[2]}#{row[3]}" in keys:
                self._batch.timeline(rows, [new, *row[1:12], v, 0])
                self._batch.timeline(rows, [*row[:12], v, 1])
        records = self._records(sorted(keys))
        for record in records:
            self._batch.record(rows, [record[0], new, *record[2:10], v])
        moved = {(kind, record[RECORD_COLUMNS.index(field)]) for record in records
                 for kind, field in LOOKUP_FIELDS if record[RECORD_COLUMNS.index(field)]}
        kept = {(kind, record[RECORD_COLUMNS.index(field)]) for record in self._records_of_person(ids, keys)
                for kind, field in LOOKUP_FIELDS}
        for kind, bi in sorted(moved):
            rows["person_lookup"].append([kind, bi, new, v, 0])
            if (kind, bi) not in kept:
                rows["person_lookup"].extend([kind, bi, pid, v, 1] for pid in ids)

    def _on_DisputeThreaded(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        merged_into = r.get("merged_into")
        if not merged_into:
            if r.get("previous_dispute_id") is not None:
                self._correct_placement(r, rows)
            return
        retired = r["dispute_id"]
        moved = self.disputes.merge(retired, merged_into)
        live = self.disputes.live(retired)
        v = self.version()
        for old in moved:
            rows["dispute_redirects"].append([old, live, v])

    def _correct_placement(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        """A correction: the event is on `dispute_id` now; its timeline rows and dispute event follow."""
        target, event_id = r["dispute_id"], r["event_ref"]
        v = self.version()
        if self.disputes.lift(target):   # live again: its redirect points at itself
            rows["dispute_redirects"].append([target, target, v])
        ids = sorted({i for p in r["person_ids"] if p for i in (self.persons.live(p), p,
                                                                *self.persons.retired(self.persons.live(p)))})
        stored = {r["previous_dispute_id"]} if r["previous_dispute_id"] else set()
        for row in self._rows_of(TIMELINE_COLUMNS, ids, [event_id]):
            if row[8]:
                stored.add(row[8])
            if row[8] != target or row[7] != r["stage"]:
                self._batch.timeline(rows, [*row[:7], r["stage"], target, *row[9:12], v, 0])
        occurred = to_utc(r["envelope"]["occurred_at"])
        agency, event_type = r["envelope"]["related"][0]["agency"], r["envelope"]["related"][0]["record_type"]
        for old in sorted(stored - {target}):
            self._batch.dispute_event(rows, [old, event_id, occurred, r["stage"], agency, event_type, v, 1])
        self._batch.dispute_event(rows, [target, event_id, occurred, r["stage"], agency, event_type, v, 0])
        if r["previous_dispute_id"] == "":   # its EventResolved had no thread: its facts had no stage either
            fact = self._batch.fact_rows.get(event_id) or next(
                (list(row) for row in self.store.query_rows(
                    f"SELECT {', '.join(FACT_COLUMNS)} FROM event_facts FINAL WHERE event_id = {{e:String}}",
                    {"e": event_id})), None)
            stage = FACT_COLUMNS.index("stage")
            if fact is not None and fact[stage] != r["stage"]:
                corrected = list(fact)
                corrected[stage], corrected[FACT_COLUMNS.index("version")] = r["stage"], v
                corrected[FACT_COLUMNS.index("is_deleted")] = 0
                self._batch.fact(rows, corrected)

    # -- reads for corrections and splits: the store's rows, overlaid with what this batch wrote ------------
    def _rows_of(self, columns: list[str], person_ids: list[str], event_ids: list[str] | None) -> list[list[Any]]:
        """Live timeline rows under these person ids (of these events, when given): point reads by the
        table's first key column, overlaid with what this batch wrote."""
        found: dict[tuple[Any, ...], list[Any]] = {}
        if person_ids and event_ids != []:
            where = "person_id IN {p:Array(String)}" + (" AND event_id IN {e:Array(String)}" if event_ids else "")
            for stored in self.store.query_rows(f"SELECT {', '.join(columns)} FROM timeline FINAL WHERE {where}",
                                                {"p": person_ids, "e": event_ids or []}):
                found[(stored[0], stored[2], stored[3])] = list(stored)
        wanted_p, wanted_e = set(person_ids), set(event_ids or ())
        for key, row in self._batch.timeline_rows.items():
            if key[0] in wanted_p and (event_ids is None or key[1] in wanted_e):
                found[key] = row
        return [row for _, row in sorted(found.items()) if not row[13]]

    def _records(self, record_keys: list[str]) -> list[list[Any]]:
        found: dict[str, list[Any]] = {}
        if record_keys:
            for stored in self.store.query_rows(f"SELECT {', '.join(RECORD_COLUMNS)} FROM person_records FINAL "
                                                "WHERE record_key IN {k:Array(String)}", {"k": record_keys}):
                found[stored[0]] = list(stored)
        for key in record_keys:
            if key in self._batch.record_rows:
                found[key] = self._batch.record_rows[key]
        return [found[k] for k in sorted(found)]

    def _records_of_person(self, person_ids: list[str], moved: set[str]) -> list[list[Any]]:
        """The person records still with these persons (a scan: splits are rare)."""
        found: dict[str, list[Any]] = {}
        for stored in self.store.query_rows(f"SELECT {', '.join(RECORD_COLUMNS)} FROM person_records FINAL "
                                            "WHERE person_id IN {p:Array(String)}", {"p": person_ids}):
            found[stored[0]] = list(stored)
        for key, row in self._batch.record_rows.items():
            found[key] = row
        wanted = set(person_ids)
        return [row for key, row in found.items() if row[1] in wanted and key not in moved]

    def _alert_row(self, alert: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        previous = self.alerts.get(alert["alert_id"])
        alert["version"] = self.version()
        if previous is not None and previous["person_id"] != alert["person_id"]:   # raised again, another person
            rows["alerts"].append([*(previous[c] for c in ALERT_COLUMNS[:-2]), alert["version"], 1])
        self.alerts[alert["alert_id"]] = alert
        rows["alerts"].append([alert[c] for c in ALERT_COLUMNS])

    def _on_AlertRaised(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        at = to_utc(r["envelope"]["occurred_at"])
        self._alert_row({"alert_id": r["alert_id"], "person_id": self.persons.live(r.get("person_id") or ""),
                         "dispute_id": r.get("dispute_id") or "", "rule": r["rule"], "level": r["level"],
                         "role": r["role"], "status": "open", "raised_at": at, "updated_at": at,
                         "evidence": list(r["evidence_event_ids"]), "version": 0, "is_deleted": 0}, rows)

    def _on_AlertAcknowledged(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        alert = self.alerts.get(r["alert_id"])
        if alert is not None:
            self._alert_row({**alert, "status": "acknowledged", "updated_at": to_utc(r["envelope"]["occurred_at"])},
                            rows)

    def _on_AlertResolved(self, r: dict[str, Any], rows: dict[str, list[list[Any]]]) -> None:
        alert = self.alerts.get(r["alert_id"])
        if alert is not None:
            self._alert_row({**alert, "status": r["resolution"], "updated_at": to_utc(r["envelope"]["occurred_at"])},
                            rows)

    @staticmethod
    def _audit_row(value: bytes) -> list[Any]:
        from consent.access.audit import view_row

        row = view_row(value)
        return [row[c] for c in AUDIT_COLUMNS]


LOOKUP_FIELDS = (("id_number", "id_number_bi"), ("phone", "phone_bi"), ("name_dob", "name_dob_bi"))


class _Batch:
    """The rows one `apply` writes, with the latest timeline row per key, person record per record key and
    dispute event per key, so that a correction later in the batch sees what the batch wrote before it."""

    def __init__(self, rows: dict[str, list[list[Any]]]) -> None:
        self.rows = rows
        self.timeline_rows: dict[tuple[Any, ...], list[Any]] = {}
        self.record_rows: dict[str, list[Any]] = {}
        self.fact_rows: dict[str, list[Any]] = {}

    def timeline(self, rows: dict[str, list[list[Any]]], row: list[Any]) -> None:
        rows["timeline"].append(row)
        self.timeline_rows[(row[0], row[2], row[3])] = row

    def record(self, rows: dict[str, list[list[Any]]], row: list[Any]) -> None:
        rows["person_records"].append(row)
        self.record_rows[row[0]] = row

    def dispute_event(self, rows: dict[str, list[list[Any]]], row: list[Any]) -> None:
        rows["dispute_events"].append(row)

    def fact(self, rows: dict[str, list[list[Any]]], row: list[Any]) -> None:
        rows["event_facts"].append(row)
        self.fact_rows[row[0]] = row


COLUMNS = {"timeline": TIMELINE_COLUMNS, "cases": CASE_COLUMNS, "person_lookup": LOOKUP_COLUMNS,
           "person_records": RECORD_COLUMNS, "event_facts": FACT_COLUMNS,
           "dispute_events": DISPUTE_EVENT_COLUMNS, "alerts": ALERT_COLUMNS, "audit_log": AUDIT_COLUMNS,
           "person_redirects": ["retired_id", "person_id", "version"],
           "person_aliases": ["person_id", "retired_id", "version", "is_deleted"],
           "dispute_redirects": ["retired_id", "dispute_id", "version"],
           "erasures": ["person_id", "erased_at", "version"]}
