"""One call for the query API: screen the caller's values, authenticate the token, decide, audit —
in that order, and every outcome audited (400 for an invalid value, 401 for a bad token, 403 for a
refused role, purpose or case). The trail records a caller value only when it is a known role,
purpose or case; of any other it keeps the length and a keyed hash (consent/access/caller_values.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from consent.access import caller_values
from consent.access.audit import AuditEntry, AuditTrail, SealedRecord
from consent.access.cases import CaseDirectory
from consent.access.consents import ConsentStore
from consent.access.decisions import (
    OVERSIGHT_REFERENCE,
    AccessDecision,
    AccessRequest,
    BreakGlassLedger,
    decide,
)
from consent.access.policy import Policy
from consent.access.users import AuthError, User, UserRegistry


@dataclass(frozen=True, slots=True)
class GateResult:
    status: int  # 200, 400, 401 or 403
    user: User | None
    request: AccessRequest | None
    decision: AccessDecision | None
    audit: SealedRecord


class AccessGate:
    def __init__(self, policy: Policy, users: UserRegistry, cases: CaseDirectory, consents: ConsentStore,
                 trail: AuditTrail, break_glass: BreakGlassLedger | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 hasher: caller_values.ValueHasher | None = None) -> None:
        self.policy, self.users, self.cases, self.consents, self.trail = policy, users, cases, consents, trail
        self.break_glass = break_glass if break_glass is not None else BreakGlassLedger()
        self.clock = clock
        self.hasher = hasher or caller_values.ValueHasher()

    def screen(self, role: str, purpose: str, case_id: str | None,
               break_glass_reason: str | None) -> caller_values.Screened:
        return caller_values.screen(role=role, purpose=purpose, case_id=case_id,
                                    break_glass_reason=break_glass_reason,
                                    known_role=lambda r: r in self.policy.roles,
                                    known_purpose=lambda p: p in self.policy.purposes,
                                    known_case=self._known_case, hasher=self.hasher)

    def _known_case(self, case_id: str) -> bool:
        """A case in the directory, or the complaint, audit case or request a DPO's access serves (recorded
        as given: it is the access's reason)."""
        return self.cases.case(case_id) is not None or OVERSIGHT_REFERENCE.fullmatch(case_id) is not None

    def _as_written(self, case_id: str | None) -> str | None:
        """A valid case number as the agency wrote it, however the caller typed it ((2025) for （2025）,
        full-width digits, spaces: cases.case_key): decided, recorded and answered under that number."""
        if not case_id or caller_values.problem_of("case_id", case_id) is not None:
            return case_id
        found = self.cases.case(case_id)
        return found.case_id if found is not None else case_id

    def check(self, token: str, *, role: str, purpose: str, case_id: str | None = None,
              subject: str | None = None, break_glass_reason: str | None = None,
              now: datetime | None = None, lookup: str = "") -> GateResult:
        now = now or self.clock()
        case_id = self._as_written(case_id)
        seen = self.screen(role, purpose, case_id, break_glass_reason)
        try:
            user = self.users.authenticate(token, now)
        except AuthError as exc:
            record = self.trail.append(AuditEntry.unauthenticated(
                exc.reason, now, purpose=seen.purpose, case_id=seen.case_id, subject=subject,
                user=exc.user_id or "", role=seen.role, withheld=seen.withheld))
            return GateResult(401, None, None, None, record)
        if seen.invalid is not None:
            name, problem = seen.invalid
            request = AccessRequest(user.user_id, seen.role, user.organisation, seen.purpose, seen.case_id, subject,
                                    None, user.offices)
            decision = AccessDecision(False, problem, f"invalid_{name}")
            record = self.trail.append(AuditEntry.from_decision(request, decision, now, status=400,
                                                                withheld=seen.withheld))
            return GateResult(400, user, request, decision, record)
        request = AccessRequest(user.user_id, role, user.organisation, purpose, case_id, subject,
                                break_glass_reason, user.offices, lookup)
        if role not in self.policy.roles:
            decision = AccessDecision(False, "default_deny", "unknown_role")
        elif not user.has_role(role):
            decision = AccessDecision(False, "authorization", "role_not_held")
        else:
            decision = decide(request, self.policy, self.cases, self.consents, now, break_glass=self.break_glass)
        audited = AccessRequest(user.user_id, seen.role, user.organisation, seen.purpose, seen.case_id, subject,
                                break_glass_reason, user.offices)
        record = self.trail.append(AuditEntry.from_decision(audited, decision, now, withheld=seen.withheld))
        return GateResult(decision.status, user, request, decision, record)
