"""Builders of the identity decision events (PersonLinked, PersonsMerged, PersonSplit).

Event ids are UUIDv5 of the decision's natural key, so handling an input twice yields the same ids,
and times come from the input event, so a replay yields byte-identical events.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

from runtime.topics import IDENTITY_REVIEWS_TOPIC
from schemas.ids import uuid5_text
from streams.processor import IDENTITY_TOPIC, Output

_NAMESPACE = uuid.UUID("5b0c3f4e-7a61-5d2e-9c11-6a4f2f0e9d01")
_NAMESPACE_BYTES = _NAMESPACE.bytes
HUB_SOURCE = {"agency": "hub", "office_code": "identity", "office_name": "identity resolution", "county_code": ""}


def decision_id(*parts: str) -> str:
    """UUIDv5 of the parts."""
    return uuid5_text(_NAMESPACE_BYTES, "|".join(parts))


PERSON_ID = re.compile(r"P[0-9a-f]{16}")   # every person id the hub issues has this shape
PARTY_ID = re.compile(r"[PO][0-9a-f]{16}")  # a person's, or an organisation party's (processor.organisation_id)


def new_person_id(founding_key: str) -> str:
    """"P" + 16 hex of sha256 of the founding occurrence's record key (or of another text that
    names the person uniquely, such as a split's members)."""
    return "P" + hashlib.sha256(founding_key.encode()).hexdigest()[:16]


def envelope(event_type: str, event_id: str, record_key: str, occurred_at: Any, recorded_at: Any,
             source_env: Mapping[str, Any] | None) -> dict[str, Any]:
    source = dict(HUB_SOURCE)
    related = []
    restriction = None
    if source_env is not None:
        source["county_code"] = source_env.get("source", {}).get("county_code", "") or ""
        related = [{"agency": source_env["source"]["agency"], "record_type": source_env.get("event_type", "event"),
                    "record_id": source_env["event_id"], "relation": "party_of"}]
        restriction = source_env.get("restriction")  # a sealed record's decisions stay sealed
    return {
        "event_id": event_id,
        "event_type": event_type,
        "source": source,
        "source_record_key": record_key,
        "source_record_version": 1,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "schema_version": 1,
        "related": related,
        "restriction": restriction,
    }


def person_linked(record_key: str, person_id: str, subject_key: str, agency: str, match_kind: str,
                  score: float, matched_record_key: str | None, evidence: list[dict[str, Any]],
                  source_env: Mapping[str, Any]) -> Output:
    record = {
        "envelope": envelope("PersonLinked", decision_id("PersonLinked", record_key), record_key,
                             source_env["occurred_at"], source_env.get("recorded_at", source_env["occurred_at"]),
                             source_env),
        "person_id": person_id,
        "record_key": record_key,
        "subject_key": subject_key,
        "source_agency": agency if agency in ("court", "police", "civil_affairs", "justice") else "hub",
        "match_kind": match_kind,
        "score": round(float(score), 4),
        "matched_record_key": matched_record_key,
        "evidence": evidence,
    }
    return Output("PersonLinked", record, IDENTITY_TOPIC, person_id)


def persons_merged(surviving: str, retired: str, via_record_key: str, score: float,
                   evidence: list[dict[str, Any]], source_env: Mapping[str, Any]) -> Output:
    record = {
        "envelope": envelope("PersonsMerged", decision_id("PersonsMerged", retired, surviving, via_record_key),
                             via_record_key, source_env["occurred_at"],
                             source_env.get("recorded_at", source_env["occurred_at"]), source_env),
        "surviving_person_id": surviving,
        "retired_person_id": retired,
        "via_record_key": via_record_key,
        "score": round(float(score), 4),
        "evidence": evidence,
    }
    return Output("PersonsMerged", record, IDENTITY_TOPIC, surviving)


def review_decided(key_a: str, key_b: str, decision: str, reviewer: str, at_millis: int | None = None) -> Output:
    """A reviewer's decision about two party records, for the pipeline (IdentityReviewDecided)."""
    import time

    if decision not in ("same", "apart"):
        raise ValueError(f"review decision must be 'same' or 'apart', got {decision!r}")
    at = at_millis if at_millis is not None else int(time.time() * 1000)
    pair = "|".join(sorted((key_a, key_b)))
    event_id = decision_id("IdentityReviewDecided", pair, decision, reviewer, str(at))
    record = {"envelope": envelope("IdentityReviewDecided", event_id, pair, at, at, None),
              "record_key_a": key_a, "record_key_b": key_b, "decision": decision, "reviewer": reviewer}
    return Output("IdentityReviewDecided", record, IDENTITY_REVIEWS_TOPIC, pair)


def person_split(person_id: str, new_person_id: str, record_keys: list[str], reason: str,
                 operator: str | None, at_millis: int) -> Output:
    event_id = decision_id("PersonSplit", person_id, reason, *record_keys)
    record = {
        "envelope": envelope("PersonSplit", event_id, record_keys[0], at_millis, at_millis, None),
        "person_id": person_id,
        "new_person_id": new_person_id,
        "record_keys": list(record_keys),
        "reason": reason,
        "operator": operator,
    }
    return Output("PersonSplit", record, IDENTITY_TOPIC, person_id)
