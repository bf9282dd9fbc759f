"""Restricted visibility of sealed and covert matters (juvenile cases, ongoing investigations).

A record is restricted when its event envelope carries `restriction {kind, until}`. If the
restricted record opens a case (a juvenile CaseFiled, say), every record of that case is
restricted with it. A restriction lifts when `until` passes, when a newer version of the
same source record comes without one, or on a RestrictionLifted event. While it holds, the
record is hidden from every role the policy does not name for its kind, and accesses that
concern it are left out of the subject's own access report.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consent.access.cases import CASE_EVENTS, case_ref
from consent.access.consents import to_datetime


@dataclass(slots=True)
class _SourceRecord:
    version: int = 0
    kind: str | None = None
    until: datetime | None = None
    event_ids: set[str] = field(default_factory=set)

    def active_kind(self, at: datetime) -> str | None:
        if self.kind is None or (self.until is not None and at >= self.until):
            return None
        return self.kind


class RestrictionStore:
    def __init__(self) -> None:
        self._records: dict[str, _SourceRecord] = {}
        self._record_of_event: dict[str, str] = {}
        self._case_openers: dict[str, set[str]] = {}  # case id -> record keys that opened it
        self._case_of_event: dict[str, str] = {}
        self._lock = threading.Lock()

    def apply_event(self, event_type: str, fields: dict[str, Any]) -> None:
        envelope = fields.get("envelope") or {}
        if event_type == "RestrictionLifted":
            self._lift(fields)
            return
        event_id = envelope.get("event_id")
        source_key = envelope.get("source_record_key")
        if not event_id or not source_key:
            return
        agency = (envelope.get("source") or {}).get("agency", "")
        record_key = f"{agency}:{source_key}"
        version = int(envelope.get("source_record_version") or 1)
        restriction = envelope.get("restriction")
        case_id = case_ref(event_type, fields)
        with self._lock:
            record = self._records.setdefault(record_key, _SourceRecord())
            record.event_ids.add(str(event_id))
            self._record_of_event[str(event_id)] = record_key
            if case_id:
                self._case_of_event[str(event_id)] = case_id
                if CASE_EVENTS.get(event_type, ("", "", ""))[2] == "open":
                    self._case_openers.setdefault(case_id, set()).add(record_key)
            # only a strictly newer version lifts; at equal versions the restriction wins
            if version > record.version or (version == record.version and restriction):
                record.version = version
                if restriction:
                    record.kind = str(restriction.get("kind") or "other")
                    record.until = to_datetime(restriction.get("until"), f"{event_type} {event_id}",
                                              "envelope.restriction.until")
                else:
                    record.kind, record.until = None, None

    def _lift(self, fields: dict[str, Any]) -> None:
        with self._lock:
            keys: set[str] = set()
            if fields.get("event_id") in self._record_of_event:
                keys.add(self._record_of_event[fields["event_id"]])
            keys |= self._case_openers.get(str(fields.get("case_id") or ""), set())
            for key in keys:
                self._records[key].kind = None

    def restriction_for(self, event_id: str | None, case_id: str | None, at: datetime) -> str | None:
        """The kind of the restriction that hides this record (or every record of this case) at
        `at`, or None when it is not restricted."""
        with self._lock:
            if event_id is not None:
                case_id = case_id or self._case_of_event.get(event_id)
                record_key = self._record_of_event.get(event_id)
                if record_key is not None:
                    kind = self._records[record_key].active_kind(at)
                    if kind:
                        return kind
            for record_key in self._case_openers.get(case_id or "", ()):
                kind = self._records[record_key].active_kind(at)
                if kind:
                    return kind
        return None

    def visible(self, event_id: str | None, case_id: str | None, visible_kinds: Iterable[str],
                at: datetime) -> bool:
        kind = self.restriction_for(event_id, case_id, at)
        return kind is None or kind in set(visible_kinds)

    def hides_access(self, case_id: str | None, event_ids: Iterable[str], at: datetime) -> bool:
        """Whether an access (to this case, returning these events) must stay out of the
        subject's own access report at `at`."""
        if case_id and self.restriction_for(None, case_id, at):
            return True
        return any(self.restriction_for(event_id, None, at) for event_id in event_ids)
