"""Recording and withdrawing a data subject's consent — at intake by the case worker who takes it, or
by the DPO — from the web page, the API and the CLI alike (they all call these functions).

1. Who. A case worker whose rule offers something with consent (a mediator at intake; a legal-aid
   officer, whose rule needs it; a police officer), for a party of their own open case: the access gate
   decides the binding exactly as for a read (a missing consent is what is being recorded, so
   `no_consent` does not refuse it). Or the DPO, with purpose `consent_records` and the signed form or
   the subject's request as the reference (`request:<ref>`), for any person and any purpose.
2. What. ConsentGranted — consent id, subject, the role it is given to, purpose, scope (field classes)
   and expiry — or ConsentWithdrawn, on the consent topic. The access layer's directories apply it
   before the next request: a withdrawal takes effect on the very next one.
3. On the record. The gate's check is audited like any access; the grant or withdrawal itself is one
   more audit record, flagged `consent_granted` / `consent_withdrawn`.
4. One in force. A new consent for the same purpose and role replaces the active one (the latest word of
   the subject counts, wider or narrower): the old one is withdrawn first, on the record, so that
   withdrawing "the consent" never leaves a second one open.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from consent.access.audit import AuditEntry
from consent.access.consents import ANY, Consent
from consent.access.policy import FIELD_CLASSES, Rule
from hub.services.access import AccessRefused, Caller, PersonAccess, _refusal
from runtime.clock import iso_utc, local_text_or_none
from runtime.topics import CONSENT_TOPIC
from schemas.wire import default_codec
from streams.envelope import hub_envelope

DPO_PURPOSE = "consent_records"


def offered(rule: Rule) -> dict[str, list[str]]:
    """What a consent under this rule unlocks: event types and field classes beyond the statute's."""
    if rule.requires_consent:
        return {"event_types": sorted(rule.event_types), "field_classes": sorted(rule.field_classes)}
    return {"event_types": sorted(rule.consent_event_types), "field_classes": sorted(rule.consent_field_classes)}


def _consent_rule(access: PersonAccess, caller: Caller, purpose: str | None,
                  grantee_role: str | None) -> Rule:
    """The rule the consent is for: the caller's own (a case worker), or the one the DPO names."""
    policy = access.services.policy
    if caller.purpose != DPO_PURPOSE:
        purpose, grantee_role = caller.purpose, caller.role
    candidates = [r for r in policy.rules.values() if r.purpose == purpose
                  and (grantee_role is None or r.role == grantee_role) and any(offered(r).values())]
    if len(candidates) != 1:
        raise AccessRefused(422, "no_consent_for_this_purpose" if not candidates else "name_the_grantee_role",
                            valid=sorted({f"{r.role}/{r.purpose}" for r in policy.rules.values()
                                          if any(offered(r).values())}))
    return candidates[0]


def _bound(access: PersonAccess, caller: Caller, subject: str) -> Any:
    """The gate's audited check that the caller may record or withdraw this subject's consent."""
    result = access.check(caller, subject)
    decision = result.decision
    if result.status == 200 or (result.status == 403 and decision is not None and decision.reason == "no_consent"):
        return result
    raise _refusal(result)


def _audit(access: PersonAccess, caller: Caller, result: Any, subject: str, action: str) -> int:
    services = access.services
    user = result.user
    entry = AuditEntry(services.now(), user.user_id, caller.role, user.organisation, caller.purpose, 200, "allowed",
                       result.decision.rule, action, result.request.case_id, subject, result.decision.legal_basis,
                       flags=(action,))
    return services.trail.append(entry).seq


def _withdraw(access: PersonAccess, caller: Caller, result: Any, consent_id: str, subject: str,
              now: datetime) -> int:
    """ConsentWithdrawn on the log, audited; the audit record's number."""
    record = {"envelope": hub_envelope("ConsentWithdrawn", f"withdraw\x1f{consent_id}", now),
              "consent_id": consent_id, "subject": subject}
    seq = _audit(access, caller, result, subject, "consent_withdrawn")
    _publish(access, "ConsentWithdrawn", record, subject)
    return seq


def _publish(access: PersonAccess, event_type: str, record: dict[str, Any], subject: str) -> None:
    services = access.services
    if services.log is None:
        raise RuntimeError("recording a consent needs the event log")
    services.log.append(CONSENT_TOPIC, default_codec().encode(event_type, record), key=subject.encode())
    services.refresh()  # the next request sees it


def consent_view(access: PersonAccess, consent: Consent) -> dict[str, Any]:
    """A consent as the API shows it, with what it unlocks."""
    zone, now = access.zone, access.services.now()
    rule = next((r for r in access.services.policy.rules.values()
                 if r.purpose == consent.purpose and r.role in (consent.grantee_role, "*")), None)
    unlocks = offered(rule) if rule is not None else {"event_types": [], "field_classes": []}
    unlocks["field_classes"] = [c for c in unlocks["field_classes"] if c in consent.field_classes]
    return {"consent_id": consent.consent_id, "subject": consent.subject, "purpose": consent.purpose,
            "grantee_role": consent.grantee_role, "field_classes": sorted(consent.field_classes),
            "valid_from": iso_utc(consent.valid_from), "valid_until": iso_utc(consent.valid_until),
            "valid_until_local": local_text_or_none(consent.valid_until, zone),
            "withdrawn_at": iso_utc(consent.withdrawn_at), "active": consent.is_active(now), "unlocks": unlocks}


def consents_of(access: PersonAccess, caller: Caller, person_id: str) -> dict[str, Any]:
    """The subject's consents (active or not) and what a consent for the caller's purpose would unlock."""
    subject = access._resolve(person_id)[0]
    _bound(access, caller, subject)
    policy = access.services.policy
    rule = policy.rule_for(caller.role, caller.purpose)
    out = {"person_id": subject, "offered": offered(rule) if rule is not None else {},
           "consents": [consent_view(access, c) for c in access.services.consents.history(subject)]}
    if caller.purpose == DPO_PURPOSE:  # the DPO records for any purpose: what each would unlock, per role
        out["offered_by_purpose"] = {f"{r.role}/{r.purpose}": offered(r) for r in policy.rules.values()
                                     if any(offered(r).values())}
    return out


def grant(access: PersonAccess, caller: Caller, person_id: str, *, field_classes: list[str],
          valid_until: datetime | None = None, purpose: str | None = None,
          grantee_role: str | None = None) -> dict[str, Any]:
    """Record the subject's consent: ConsentGranted on the log, audited; effective on the next request."""
    subject = access._resolve(person_id)[0]
    rule = _consent_rule(access, caller, purpose, grantee_role)
    scope = sorted(set(field_classes))
    allowed = set(offered(rule)["field_classes"]) or set(FIELD_CLASSES)
    if not scope or not set(scope) <= allowed:
        raise AccessRefused(422, "scope_not_offered", valid=sorted(allowed))
    now = access.services.now()
    if valid_until is not None and valid_until <= now:
        raise AccessRefused(422, "valid_until_in_the_past")
    result = _bound(access, caller, subject)
    replaced = [c.consent_id for c in access.services.consents.history(subject)
                if c.is_active(now) and (c.purpose, c.grantee_role, c.grantee_organisation) == (rule.purpose, rule.role, ANY)]
    for old in replaced:
        _withdraw(access, caller, result, old, subject, now)
    consent_id = "C" + uuid.uuid4().hex[:16]
    record = {"envelope": hub_envelope("ConsentGranted", f"consent\x1f{consent_id}", now),
              "consent_id": consent_id, "subject": subject, "grantee_role": rule.role, "grantee_organisation": "*",
              "purpose": rule.purpose, "field_classes": scope, "valid_from": now, "valid_until": valid_until}
    seq = _audit(access, caller, result, subject, "consent_granted")
    _publish(access, "ConsentGranted", record, subject)
    found = next(c for c in access.services.consents.history(subject) if c.consent_id == consent_id)
    return {**consent_view(access, found), "replaces": replaced, "audit_seq": seq}


def withdraw(access: PersonAccess, caller: Caller, consent_id: str) -> dict[str, Any]:
    """Withdraw a consent: ConsentWithdrawn on the log, audited; the next request no longer has it."""
    access.services.refresh()
    consent = access.services.consents.get(consent_id)
    if consent is None:
        access.check(caller, None)  # audited: the caller asked
        raise AccessRefused(404, "consent_not_found")
    result = _bound(access, caller, consent.subject)
    seq = _withdraw(access, caller, result, consent_id, consent.subject, access.services.now())
    withdrawn = access.services.consents.get(consent_id)
    assert withdrawn is not None
    return {**consent_view(access, withdrawn), "audit_seq": seq}
