"""The access decision: may this caller, for this purpose and case, see this person — and
which event types and field classes? Deny by default; every decision names the rule that
made it and the reason, so the audit trail can explain it."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from consent.access.cases import CaseDirectory
from consent.access.consents import ConsentStore
from consent.access.policy import FIELD_CLASSES, Policy, Rule

DEFAULT_DENY = "default_deny"
# A look-up by identifier under a rule with no case binding (the DPO's), and any rule bound by
# "oversight_reference" (the DPO's erasure), must name its reason in the case: the complaint, audit
# case or data subject's request it serves, as "complaint:<ref>", "audit:<ref>" or "request:<ref>".
OVERSIGHT_REFERENCE = re.compile(r"^(complaint|audit|request):\S.{0,99}$")
IDENTIFIER_LOOKUP = "identifier"
# A read about the caller's case that returns no person and no record — only plain facts of other, concluded
# disputes (similar cases): bound to the open case like any read, to no subject, granting no type and no field.
CASE_METADATA_LOOKUP = "case_metadata"


@dataclass(frozen=True, slots=True)
class AccessRequest:
    user: str
    role: str
    organisation: str
    purpose: str
    case_id: str | None = None
    subject: str | None = None  # hub person id of the data subject
    break_glass_reason: str | None = None
    offices: tuple[str, ...] = ()  # the caller's offices (supervision is by office)
    lookup: str = ""  # "identifier": a search by ID number, phone or name + birth date; "case_metadata"


@dataclass(frozen=True, slots=True)
class AccessDecision:
    allowed: bool
    rule: str
    reason: str  # machine code: allowed, no_case, case_closed, not_party, no_consent, ...
    legal_basis: str = ""
    event_types: frozenset[str] = frozenset()
    field_classes: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    visible_restrictions: frozenset[str] = frozenset()
    consent_id: str | None = None
    refused_event_types: frozenset[str] = frozenset()  # what the rule offers but this request does not get
    # classes revealed of the other parties of a record (not the subject): least data, by rule
    other_party_classes: frozenset[str] = frozenset()

    @property
    def status(self) -> int:
        return 200 if self.allowed else 403

    @property
    def refused_field_classes(self) -> frozenset[str]:
        return frozenset(FIELD_CLASSES) - self.field_classes

    @property
    def break_glass(self) -> bool:
        return "break_glass" in self.flags


class BreakGlassLedger:
    """Break-glass uses per user in a sliding window. Rebuild it at start from the audit
    trail (`record` each past use) so a restart does not reset the limit."""

    def __init__(self) -> None:
        self._uses: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def record(self, user: str, at: datetime) -> None:
        with self._lock:
            self._uses.setdefault(user, deque()).append(at)

    def count(self, user: str, now: datetime, window: timedelta) -> int:
        with self._lock:
            return sum(1 for at in self._uses.get(user, ()) if now - window < at <= now)

    def try_use(self, user: str, now: datetime, limit: int, window: timedelta) -> bool:
        with self._lock:
            uses = self._uses.setdefault(user, deque())
            while uses and uses[0] <= now - window:
                uses.popleft()
            if sum(1 for at in uses if at <= now) >= limit:
                return False
            uses.append(now)
            return True

    @classmethod
    def from_uses(cls, uses: Iterable[tuple[str, datetime]]) -> BreakGlassLedger:
        ledger = cls()
        for user, at in uses:
            ledger.record(user, at)
        return ledger


def _deny(rule: str, reason: str, flags: Iterable[str] = (), offered: Rule | None = None) -> AccessDecision:
    refused = offered.event_types | offered.consent_event_types if offered else frozenset()
    return AccessDecision(False, rule, reason, flags=frozenset(flags), refused_event_types=refused)


def _binding_failure(request: AccessRequest, rule: Rule, cases: CaseDirectory) -> str | None:
    """Why the request's case does not bind the caller to the subject, or None if it does."""
    if rule.binding == "none":
        return None
    if rule.binding == "oversight_reference":  # the DPO's erasure: a complaint, audit case or request
        return None if OVERSIGHT_REFERENCE.fullmatch(request.case_id or "") else "needs_oversight_reference"
    if not request.case_id:
        return "no_case"
    case = cases.case(request.case_id)
    if case is None:
        return "case_not_found"
    if case.kind not in rule.case_kinds:
        return "wrong_case_kind"
    if not case.is_open:
        return "case_closed"
    if not request.subject:
        return "no_subject"
    if not cases.is_party(request.case_id, request.subject):
        return "not_party"
    if rule.office_bound and not {case.office, case.office_name} & {*request.offices, request.organisation}:
        return "not_supervising_office" if rule.binding == "supervised_person" else "other_office"
    return None


def decide(request: AccessRequest, policy: Policy, cases: CaseDirectory, consents: ConsentStore,
           now: datetime, *, break_glass: BreakGlassLedger | None = None) -> AccessDecision:
    """Decide one request. `break_glass` is the rate-limit ledger; without one, break-glass
    is refused. A granted break-glass use is recorded in the ledger."""
    if request.role not in policy.roles:
        return _deny(DEFAULT_DENY, "unknown_role")
    if request.purpose not in policy.purposes:
        return _deny(DEFAULT_DENY, "unknown_purpose")
    rule = policy.rule_for(request.role, request.purpose)
    wants_break_glass = bool(request.break_glass_reason and request.break_glass_reason.strip())
    if rule is None:
        return _deny(DEFAULT_DENY, "no_rule", ["break_glass_refused"] if wants_break_glass else ())

    if rule.binding == "none" and request.lookup == IDENTIFIER_LOOKUP:
        return _oversight_lookup(request, rule)
    failure = _binding_failure(request, rule, cases)
    if request.lookup == CASE_METADATA_LOOKUP and not request.subject and rule.binding != "none":
        return _case_metadata(request, rule, cases, failure)
    consent = None
    if failure is None and request.subject and (rule.requires_consent or rule.consent_field_classes
                                                or rule.consent_event_types):
        consent = consents.active(request.subject, request.role, request.organisation, request.purpose, now)
        if rule.requires_consent and consent is None:
            failure = "no_consent"
    if failure is not None:
        if wants_break_glass:
            return _break_glass(request, policy, rule, failure, now, break_glass)
        return _deny(rule.id, failure, offered=rule)

    visible = policy.visible_restrictions(request.role)
    if rule.requires_consent:
        assert consent is not None
        classes = rule.field_classes & consent.field_classes
        return AccessDecision(True, rule.id, "allowed", f"consent: {consent.consent_id}", rule.event_types,
                              classes, frozenset(), visible, consent.consent_id,
                              other_party_classes=classes & rule.other_party_classes)
    events, classes, basis = rule.event_types, rule.field_classes, rule.legal_basis
    if consent is not None:
        events = events | rule.consent_event_types
        classes = classes | (rule.consent_field_classes & consent.field_classes)
        basis = f"{basis}; consent: {consent.consent_id}"
    return AccessDecision(True, rule.id, "allowed", basis, events, classes, frozenset(), visible,
                          consent.consent_id if consent else None, rule.consent_event_types - events,
                          rule.field_classes & rule.other_party_classes)


def _case_metadata(request: AccessRequest, rule: Rule, cases: CaseDirectory, failure: str | None) -> AccessDecision:
    """A metadata read about the caller's own open case: bound like any read (an open case of the rule's kinds,
    of the caller's office where the rule says so), to no person; no event type, no field class granted."""
    if failure not in (None, "no_subject"):
        return _deny(rule.id, failure, offered=rule)
    case = cases.case(request.case_id or "")
    if case is not None and rule.office_bound and not {case.office, case.office_name} & {*request.offices,
                                                                                          request.organisation}:
        return _deny(rule.id, "not_supervising_office" if rule.binding == "supervised_person" else "other_office",
                     offered=rule)
    return AccessDecision(True, rule.id, "allowed", rule.legal_basis, flags=frozenset({CASE_METADATA_LOOKUP}))


def _oversight_lookup(request: AccessRequest, rule: Rule) -> AccessDecision:
    """Turning an identifier into a person id without a case that binds the caller (the DPO's look-up)
    needs a recorded reason — a complaint or an audit case — and is flagged in the DPO's report."""
    if not OVERSIGHT_REFERENCE.fullmatch(request.case_id or ""):
        return _deny(rule.id, "lookup_needs_reason", ["identifier_lookup"])
    return AccessDecision(True, rule.id, "allowed", f"{rule.legal_basis}; {(request.case_id or '').split(':')[0]} "
                          "reference", rule.event_types, rule.field_classes,
                          frozenset({"identifier_lookup", "notify_dpo"}))


def _break_glass(request: AccessRequest, policy: Policy, rule: Rule, failure: str, now: datetime,
                 ledger: BreakGlassLedger | None) -> AccessDecision:
    """Override a failed case binding or missing consent; never a missing rule. Every
    attempt, granted or not, is flagged for the DPO."""
    limits = policy.break_glass
    refused = ["break_glass_refused", "notify_dpo"]
    if request.role not in limits.roles:
        return _deny(rule.id, "break_glass_role_not_permitted", refused, rule)
    reason = (request.break_glass_reason or "").strip()
    if len(reason) < limits.min_reason_chars:
        return _deny(rule.id, "break_glass_reason_too_short", refused, rule)
    if ledger is None:
        return _deny(rule.id, "break_glass_unavailable", refused, rule)
    if not ledger.try_use(request.user, now, limits.max_per_user, timedelta(hours=limits.window_hours)):
        return _deny(rule.id, "break_glass_rate_limited", refused, rule)
    return AccessDecision(True, rule.id, f"break_glass_over_{failure}", f"break-glass; {rule.legal_basis}",
                          rule.event_types, rule.field_classes, frozenset({"break_glass", "notify_dpo"}),
                          policy.visible_restrictions(request.role),
                          refused_event_types=rule.consent_event_types - rule.event_types,
                          other_party_classes=rule.field_classes & rule.other_party_classes)
