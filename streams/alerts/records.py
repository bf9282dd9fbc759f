"""Builders of the alert events (AlertRaised, AlertAcknowledged, AlertResolved) on the alerts topic.

Ids are deterministic (streams.envelope.hub_envelope): an alert's id is the event id of its
AlertRaised, derived from the rule, the subject and the sorted evidence event ids; times come from
the inputs, so a replay yields byte-identical events. Messages never carry personal data.
"""

from __future__ import annotations

from typing import Any

from runtime.clock import to_utc
from streams.alerts.rules import Rule
from streams.envelope import hub_envelope, hub_event_id
from streams.processor import ALERTS_TOPIC, Output

OFFICE = "alerts"


def alert_key(rule: str, subject: str, evidence: list[str]) -> str:
    return "alert\x1f" + rule + "\x1f" + subject + "\x1f" + ",".join(evidence)


def raised(rule: Rule, subject: str, person_id: str | None, dispute_id: str | None, evidence: list[str],
           occurred_ms: int, message: str, restriction: dict[str, Any] | None) -> dict[str, Any]:
    envelope = hub_envelope("AlertRaised", alert_key(rule.name, subject, evidence), occurred_ms,
                            office_code=OFFICE, restriction=restriction)
    return {
        "envelope": envelope,
        "alert_id": envelope["event_id"],
        "rule": rule.name,
        "level": rule.level,
        "role": rule.role,
        "person_id": person_id,
        "dispute_id": dispute_id,
        "evidence_event_ids": list(evidence),
        "message": message,
    }


def generation(record: dict[str, Any], gen: int) -> dict[str, Any]:
    """The AlertRaised `record` published again (`gen` >= 1): after a replay retracted it and the condition
    came back, or its evidence changed. Same alert_id, an event id of its own (consumers de-duplicate
    by event id, so the first one's id would be ignored)."""
    if gen == 0:
        return record
    env = record["envelope"]
    key = f"{env['source_record_key']}\x1f{gen}"
    return {**record, "envelope": {**env, "event_id": hub_event_id(key), "source_record_key": key}}


def acknowledged(alert_id: str, user_id: str, at: Any, restriction: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "envelope": hub_envelope("AlertAcknowledged", f"alert-ack\x1f{alert_id}\x1f{user_id}", to_utc(at),
                                 office_code=OFFICE, restriction=restriction),
        "alert_id": alert_id,
        "user_id": user_id,
    }


def resolved(alert_id: str, user_id: str, resolution: str, reason: str, at: Any,
             restriction: dict[str, Any] | None, gen: int = 0) -> dict[str, Any]:
    """`gen`: which publication of the alert this closes (0: the first AlertRaised; see `generation`)."""
    key = f"alert-end\x1f{alert_id}" + (f"\x1f{gen}" if gen else "")
    return {
        "envelope": hub_envelope("AlertResolved", key, to_utc(at), office_code=OFFICE, restriction=restriction),
        "alert_id": alert_id,
        "user_id": user_id,
        "resolution": resolution,
        "reason": reason,
    }


def output(event_type: str, record: dict[str, Any], key: str) -> Output:
    return Output(event_type, record, ALERTS_TOPIC, key)
