"""Erasing a person, as a DPO can stand behind it (the CLI's `justlink erase` and the API share it).

1. The DPO asks with their token, role dpo, purpose `erasure` and the request, complaint or audit
   case it answers as the case (`request:<ref>`, `complaint:<ref>`, `audit:<ref>`); the access gate
   decides and audits it like any access (policy rule dpo.erasure).
2. `preview` names the person before anything is destroyed: name and masked ID number from their newest
   record, their records by agency, their ids and key count.
3. `erase` destroys every data key of every record of the person (all agencies, every id merged into
   theirs): each field encrypted under them — in the log, dead letters keyed to them, views, the audit
   trail's sealed reasons, processor state — is unreadable from then on. It records who decided and why
   in the audit trail (flag `erasure`) and publishes PersonErased, on which the views delete the
   person's rows and look-ups (streams/views/erasure.py): finding them by ID number returns nothing,
   their timeline is empty; other parties' records stay.
"""

from __future__ import annotations

import base64
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from consent.access.audit import AuditEntry
from consent.privacy.erasure import erase_subjects
from hub.services.access import AccessRefused, Caller, PersonAccess, _refusal
from runtime.clock import iso_utc
from runtime.topics import IDENTITY_TOPIC
from schemas.wire import default_codec
from streams.envelope import hub_envelope

PURPOSE = "erasure"
REASONS = ("subject_request", "consent_withdrawn", "unlawful_processing", "retention_expired", "court_order")


def _mask(value: str | None) -> str | None:
    if not value:
        return None
    keep = 4 if len(value) > 8 else 1
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def _subject_keys(access: PersonAccess, ids: list[str]) -> list[str]:
    rows = access.store.query_rows(
        "SELECT DISTINCT subject_key FROM person_records FINAL WHERE person_id IN {ids:Array(String)} "
        "AND subject_key != ''", {"ids": ids})
    return sorted(str(k) for (k,) in rows)


def _person_blind_indexes(access: PersonAccess, ids: list[str]) -> set[str]:
    rows = access.store.query_rows(
        "SELECT id_number_bi, phone_bi FROM person_records FINAL WHERE person_id IN {ids:Array(String)}",
        {"ids": ids})
    return {str(bi) for row in rows for bi in row if bi}


def dead_letters_of(access: PersonAccess, ids: list[str]) -> list[str]:
    """The own keys of connector dead letters whose original names the person (an ID number or phone
    whose blind index is one of theirs). A dead letter's original is sealed under the keys of the data
    subjects it could be keyed to — erasing the person's subject keys shreds those — and under a key of
    its own (connectors/sdk/dead_lettering.py): destroying that reaches the rows keyed to nobody the
    person's records know (an ID number mistyped in that row, only a phone), and nobody else's data."""
    from connectors.sdk.dead_lettering import dead_letters_naming

    services = access.services
    mine = _person_blind_indexes(access, ids)
    if services.log is None or not mine:
        return []
    return sorted({letter.own_key for letter in dead_letters_naming(services.log, services.protector, mine)})


def _check(access: PersonAccess, caller: Caller, person_id: str) -> tuple[list[str], Any]:
    if caller.purpose != PURPOSE:
        raise AccessRefused(422, "erasure_needs_purpose_erasure")
    ids = access._resolve(person_id)
    result = access.check(caller, ids[0])
    if result.status != 200 or result.decision is None:
        raise _refusal(result)
    return ids, result


def preview(access: PersonAccess, caller: Caller, person_id: str) -> dict[str, Any]:
    """Who would be erased: name and masked ID number, records by agency, ids, subject key count."""
    ids, result = _check(access, caller, person_id)
    decision = result.decision
    rows = access.store.query_dicts(
        "SELECT event_id, agency, party_index, payload, occurred_at, event_type, office_code, stage, dispute_id, "
        "role, restricted, person_id FROM timeline FINAL WHERE person_id IN {ids:Array(String)} AND is_deleted = 0 "
        "ORDER BY occurred_at DESC LIMIT 1 BY event_id", {"ids": ids})
    party: dict[str, Any] = {}
    if rows:
        event_type, record = access.codec.decode(base64.b64decode(rows[0]["payload"]))
        party = access._reveal(rows[0], event_type, record, decision)["fields"]["parties"][rows[0]["party_index"]]
    keys = _subject_keys(access, ids)
    return {"person_id": ids[0], "ids": ids, "name": party.get("name"), "id_number": _mask(party.get("id_number")),
            "records": len(rows), "by_agency": dict(sorted(Counter(r["agency"] for r in rows).items())),
            "dead_letters": len(dead_letters_of(access, ids)), "subject_keys": len(keys),
            "request": caller.case_id, "audit_seq": result.audit.seq}


def erase(access: PersonAccess, caller: Caller, person_id: str, reason: str) -> dict[str, Any]:
    """Destroy the person's data keys, audit who decided and why, and publish PersonErased."""
    if reason not in REASONS:
        raise AccessRefused(422, "unknown_erasure_reason")
    ids, result = _check(access, caller, person_id)
    services = access.services
    dead = dead_letters_of(access, ids)
    keys = sorted({*_subject_keys(access, ids), *dead})
    if not keys:
        raise AccessRefused(404, "nothing_to_erase")
    assert result.user is not None
    receipt = erase_subjects(services.protector.keystore, keys, requested_by=result.user.user_id)
    services.protector.forget_keys()
    now = services.now()
    audited = services.trail.append(AuditEntry(
        now, result.user.user_id, caller.role, result.user.organisation, caller.purpose, 200, "allowed",
        result.decision.rule, f"erased_{reason}", caller.case_id, ids[0], result.decision.legal_basis,
        flags=("erasure", "notify_dpo")))
    record = {"envelope": hub_envelope("PersonErased", f"erasure\x1f{ids[0]}\x1f{receipt.receipt_id}", now,
                                       recorded_at=datetime.now(UTC)),
              "person_ids": ids, "subject_keys": keys, "dek_versions_destroyed": receipt.dek_versions_destroyed,
              "requested_by": result.user.user_id, "reason": reason, "request_reference": caller.case_id or "",
              "audit_seq": audited.seq}
    if services.log is None:
        raise RuntimeError("erasure needs the event log")
    services.log.append(IDENTITY_TOPIC, default_codec().encode("PersonErased", record), key=ids[0].encode())
    return {"person_id": ids[0], "ids": ids, "subject_keys": keys, "dead_letters": len(dead),
            "destroyed": receipt.destroyed,
            "already_erased": receipt.already_erased, "dek_versions_destroyed": receipt.dek_versions_destroyed,
            "requested_by": result.user.user_id, "reason": reason, "request": caller.case_id,
            "audit_seq": audited.seq, "erased_at": iso_utc(now), "receipt_id": receipt.receipt_id}

