"""Consents of data subjects, as events: ConsentGranted and ConsentWithdrawn.

There is no cache that could outlive a withdrawal: `active()` answers from the applied
events only, and when the store has a `feed` (a function returning the consent events that
arrived since the last call, e.g. a zero-timeout poll of the consent topic), it drains the
feed before every answer — so a withdrawal on the log is honoured by the next request.
Withdrawal changes the consent's state; it deletes nothing (the audit trail is separate).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from runtime.clock import to_utc
from runtime.eventlog.base import Appended, EventLog
from runtime.topics import CONSENT_TOPIC
from schemas.wire import AvroCodec, TraceContext, default_codec

ANY = "*"
ConsentFeed = Callable[[], Iterable[tuple[str, dict[str, Any]]]]


def consumer_feed(consumer: Any, decode: Callable[[Any], tuple[str, dict[str, Any]]]) -> ConsentFeed:
    """A feed over an event-log consumer of the consent topic: each call drains what arrived
    (zero-timeout polls) and decodes each record to (event type, fields)."""

    def drain() -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        while batch := consumer.poll(500, timeout_s=0.0):
            events.extend(decode(record) for record in batch)
        return events

    return drain


def publish_consent_event(log: EventLog, event_type: str, record: dict[str, Any],
                          codec: AvroCodec | None = None) -> Appended:
    """The consent writer: append a ConsentGranted / ConsentWithdrawn record to the consent topic, keyed by
    its subject, with the record headers of schemas/wire.py (a new trace per consent event)."""
    value, headers = (codec or default_codec()).message(event_type, record,
                                                       TraceContext.new(record["envelope"]["event_id"]))
    return log.append(CONSENT_TOPIC, value, key=record["subject"].encode(), headers=headers)


@dataclass(frozen=True, slots=True)
class Consent:
    consent_id: str
    subject: str
    grantee_role: str
    grantee_organisation: str
    purpose: str
    field_classes: frozenset[str]
    valid_from: datetime
    valid_until: datetime | None = None
    withdrawn_at: datetime | None = None

    def covers(self, role: str, organisation: str, purpose: str) -> bool:
        return (self.purpose == purpose and self.grantee_role in (ANY, role)
                and self.grantee_organisation in (ANY, organisation))

    def is_active(self, at: datetime) -> bool:
        if self.withdrawn_at is not None:  # a withdrawal is final, whatever its timestamp
            return False
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


def to_datetime(value: Any, event: str, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return to_utc(value)
    except TypeError:
        raise ValueError(f"{event}: field {name!r} must be a timestamp (datetime or epoch millis), got "
                         f"{type(value).__name__}") from None


class ConsentStore:
    def __init__(self, feed: ConsentFeed | None = None) -> None:
        self._by_id: dict[str, Consent] = {}
        self._by_subject: dict[str, set[str]] = {}
        self._withdrawn_early: dict[str, datetime] = {}  # withdrawals seen before their grant (replay order)
        self._feed = feed
        self._lock = threading.Lock()

    def apply_event(self, event_type: str, fields: dict[str, Any]) -> None:
        if event_type == "ConsentGranted":
            self._grant(fields)
        elif event_type == "ConsentWithdrawn":
            self._withdraw(fields)

    def _grant(self, fields: dict[str, Any]) -> None:
        consent_id = str(fields["consent_id"])
        valid_from = to_datetime(fields.get("valid_from"), f"ConsentGranted {consent_id}", "valid_from")
        if valid_from is None:
            raise ValueError(f"ConsentGranted {consent_id}: field 'valid_from' is missing")
        consent = Consent(consent_id, str(fields["subject"]), str(fields.get("grantee_role") or ANY),
                          str(fields.get("grantee_organisation") or ANY), str(fields["purpose"]),
                          frozenset(fields.get("field_classes") or ()), valid_from,
                          to_datetime(fields.get("valid_until"), f"ConsentGranted {consent_id}", "valid_until"))
        with self._lock:
            if consent_id in self._withdrawn_early:
                consent = replace(consent, withdrawn_at=self._withdrawn_early.pop(consent_id))
            previous = self._by_id.get(consent_id)
            if previous is not None and previous.withdrawn_at is not None:
                consent = replace(consent, withdrawn_at=previous.withdrawn_at)  # a replayed grant never revives
            self._by_id[consent_id] = consent
            self._by_subject.setdefault(consent.subject, set()).add(consent_id)

    def _withdraw(self, fields: dict[str, Any]) -> None:
        consent_id = str(fields["consent_id"])
        envelope = fields.get("envelope") or {}
        when = to_datetime(envelope.get("occurred_at"), f"ConsentWithdrawn {consent_id}", "occurred_at")
        when = when or datetime.now(UTC)
        with self._lock:
            consent = self._by_id.get(consent_id)
            if consent is None:
                self._withdrawn_early[consent_id] = when
            elif consent.withdrawn_at is None:
                self._by_id[consent_id] = replace(consent, withdrawn_at=when)

    def _drain_feed(self) -> None:
        if self._feed is not None:
            for event_type, fields in self._feed():
                self.apply_event(event_type, fields)

    def active(self, subject: str, grantee_role: str, organisation: str, purpose: str,
               at: datetime) -> Consent | None:
        """The subject's active consent covering this role/organisation and purpose at `at`
        (the one with the widest scope if several), or None."""
        self._drain_feed()
        with self._lock:
            matching = [c for c in (self._by_id[i] for i in self._by_subject.get(subject, ()))
                        if c.covers(grantee_role, organisation, purpose) and c.is_active(at)]
        return max(matching, key=lambda c: (len(c.field_classes), c.consent_id), default=None)

    def get(self, consent_id: str) -> Consent | None:
        self._drain_feed()
        with self._lock:
            return self._by_id.get(consent_id)

    def history(self, subject: str) -> list[Consent]:
        """Every consent the subject gave, withdrawn or not (for the subject's own report)."""
        self._drain_feed()
        with self._lock:
            return sorted((self._by_id[i] for i in self._by_subject.get(subject, ())),
                          key=lambda c: (c.valid_from, c.consent_id))
