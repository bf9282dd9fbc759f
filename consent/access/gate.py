"""One call for the query API: authenticate the token, decide, audit — in that order, and
every outcome audited (401 for a bad token, 403 for a refused role, purpose or case)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from consent.access.audit import AuditEntry, AuditTrail, SealedRecord
from consent.access.cases import CaseDirectory
from consent.access.consents import ConsentStore
from consent.access.decisions import AccessDecision, AccessRequest, BreakGlassLedger, decide
from consent.access.policy import Policy
from consent.access.users import AuthError, User, UserRegistry


@dataclass(frozen=True, slots=True)
class GateResult:
    status: int  # 200, 401 or 403
    user: User | None
    request: AccessRequest | None
    decision: AccessDecision | None
    audit: SealedRecord


class AccessGate:
    def __init__(self, policy: Policy, users: UserRegistry, cases: CaseDirectory, consents: ConsentStore,
                 trail: AuditTrail, break_glass: BreakGlassLedger | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.policy, self.users, self.cases, self.consents, self.trail = policy, users, cases, consents, trail
        self.break_glass = break_glass if break_glass is not None else BreakGlassLedger()
        self.clock = clock

    def check(self, token: str, *, role: str, purpose: str, case_id: str | None = None,
              subject: str | None = None, break_glass_reason: str | None = None,
              now: datetime | None = None) -> GateResult:
        now = now or self.clock()
        try:
            user = self.users.authenticate(token, now)
        except AuthError as exc:
            record = self.trail.append(AuditEntry.unauthenticated(
                exc.reason, now, purpose=purpose, case_id=case_id, subject=subject, user=exc.user_id or "",
                role=role))
            return GateResult(401, None, None, None, record)
        request = AccessRequest(user.user_id, role, user.organisation, purpose, case_id, subject,
                                break_glass_reason, user.offices)
        if not user.has_role(role):
            decision = AccessDecision(False, "authorization", "role_not_held")
        else:
            decision = decide(request, self.policy, self.cases, self.consents, now, break_glass=self.break_glass)
        record = self.trail.append(AuditEntry.from_decision(request, decision, now))
        return GateResult(decision.status, user, request, decision, record)
