"""A party's own view: the stages of their dispute across agencies, and who looked at their data.

The office that holds the case gives the party an access code at intake (`issue`: the officer must be
bound to that party through their open case — the gate decides and audits). With the code the party
signs in (`sign_in`) and reads, for the person and case the code was given for:

- `case`: the steps of their own dispute — the threads the case is on — in which they are a party:
  stage, agency, office, date, the record's own number and how it ended; their own role. No field of
  anyone (not even their own: a code proves the holding of a slip of paper, not who holds it), nothing of
  the other parties. Restricted records (sealed, covert) show as "a restricted record exists" or not at
  all, as the policy's [party_view.restricted] says.
- `accesses`: who looked at their data — agency, office, role, purpose, when, allowed or not, under which
  of their cases — from the audit trail, in the manner of Estonia's Data Tracker. Accesses under a case
  whose records are restricted in a kind the policy withholds (a covert police investigation) are left
  out until the restriction lifts; how many were left out goes on the audit trail for the DPO.

Every sign-in (failed ones too) and every read is audited, naming the code by its id, never the code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from consent.access.audit import AuditEntry
from consent.access.party_codes import CodeError, PartyAccess, PartyCodes
from consent.access.policy import PartyView
from hub.services import dpo, queries
from hub.services.access import AccessRefused, Caller, PersonAccess
from runtime.clock import iso_utc, local_text_or_none

PARTY_ROLE, PARTY_PURPOSE = "party", "own_case"
PARTY_RULE = "party_view"
WITHHELD_FLAG = dpo.SUBJECT_REPORT_WITHHELD

_STEPS = """
SELECT t.event_id AS event_id, t.event_type AS event_type, t.role AS role, t.restricted AS restricted,
       f.occurred_at AS occurred_at, f.agency AS agency, f.office_name AS office_name, f.stage AS stage,
       f.case_number AS case_number, f.outcome AS outcome
FROM (SELECT event_id, any(event_type) AS event_type, any(role) AS role, max(restricted) AS restricted
      FROM timeline FINAL WHERE person_id IN {ids:Array(String)} AND is_deleted = 0 GROUP BY event_id) AS t
INNER JOIN (SELECT * FROM event_facts FINAL WHERE is_deleted = 0) AS f ON f.event_id = t.event_id
WHERE t.event_id IN (
    SELECT event_id FROM event_facts FINAL WHERE case_number = {case:String}
    UNION ALL
    SELECT e.event_id FROM dispute_events AS e FINAL
    LEFT JOIN (SELECT retired_id, dispute_id FROM dispute_redirects FINAL) AS r ON r.retired_id = e.dispute_id
    WHERE e.is_deleted = 0 AND if(r.dispute_id = '', e.dispute_id, r.dispute_id) IN (
        SELECT if(r2.dispute_id = '', e2.dispute_id, r2.dispute_id) FROM dispute_events AS e2 FINAL
        LEFT JOIN (SELECT retired_id, dispute_id FROM dispute_redirects FINAL) AS r2 ON r2.retired_id = e2.dispute_id
        WHERE e2.is_deleted = 0 AND e2.event_id IN (SELECT event_id FROM event_facts FINAL
                                                   WHERE case_number = {case:String})))
ORDER BY f.occurred_at, t.event_id
"""


class PartyService:
    def __init__(self, access: PersonAccess, codes: PartyCodes, view: PartyView,
                 clock: Callable[[], datetime]) -> None:
        self.access, self.codes, self.view, self.clock = access, codes, view, clock
        self.services = access.services

    # -- the office at intake -------------------------------------------------------------------------
    def issue(self, caller: Caller, person_id: str) -> dict[str, Any]:
        """A code for a party of the caller's open case (the gate decides, and audits, that the caller is
        bound to this person through that case); an earlier code of the party for the case is revoked."""
        result = self.access.require(caller, person_id)
        case = self.services.cases.case(caller.case_id or "")
        rule = result.decision.rule if result.decision else ""
        if case is None or case.kind not in self.view.issuer_case_kinds:
            raise AccessRefused(403, "not_an_intake_case", audit_seq=result.audit.seq, rule=rule)
        live = self.services.feed.person_ids(person_id)[0] if self.services.feed else person_id
        user = result.user.user_id if result.user else ""
        issued = self.codes.issue(live, case.case_id, user, valid=self.view.code_valid, now=self.clock())
        record = self.services.trail.append(AuditEntry(
            self.clock(), user, caller.role, result.user.organisation if result.user else "", caller.purpose, 200,
            "allowed", rule, "party_code_issued", case.case_id, live, flags=("party_code_issued",)))
        return {"code": issued.code, "code_id": issued.code_id, "person_id": live, "case_id": case.case_id,
                "expires_at": iso_utc(issued.expires_at), "expires_local": self._local(issued.expires_at),
                "audit_seq": record.seq}

    # -- the party ------------------------------------------------------------------------------------
    def sign_in(self, code: str, client: str) -> dict[str, Any]:
        now = self.clock()
        try:
            token, party = self.codes.sign_in(code, client, session=self.view.session, now=now)
        except CodeError as exc:
            record = self.services.trail.append(AuditEntry.unauthenticated(
                exc.reason, now, purpose=PARTY_PURPOSE, role=PARTY_ROLE,
                user=f"party:{exc.code_id}" if exc.code_id else ""))
            status = 429 if exc.reason == "too_many_attempts" else 401
            raise AccessRefused(status, exc.reason, audit_seq=record.seq, rule="party_code") from None
        self._audit(party, "signed_in")
        return {"session": token, "case_id": party.case_id, "expires_at": iso_utc(party.expires_at),
                "expires_local": self._local(party.expires_at)}

    def signed_in(self, session: str) -> PartyAccess:
        try:
            return self.codes.session(session, self.clock())
        except CodeError as exc:
            record = self.services.trail.append(AuditEntry.unauthenticated(
                exc.reason, self.clock(), purpose=PARTY_PURPOSE, role=PARTY_ROLE,
                user=f"party:{exc.code_id}" if exc.code_id else ""))
            raise AccessRefused(401, exc.reason, audit_seq=record.seq, rule="party_code") from None

    def case(self, session: str) -> dict[str, Any]:
        """The steps of the party's own dispute (see the module's doc)."""
        party = self.signed_in(session)
        self.services.refresh()
        ids = self._ids(party.person_id)
        now = self.clock()
        steps, hidden = [], 0
        for row in self.services.store.query_dicts(_STEPS, {"ids": ids, "case": party.case_id}):
            if row["event_type"] not in self.view.event_types:
                continue
            kind = self._restriction(row, now)
            if kind is not None:
                if self.view.restricted.get(kind, "hidden") == "hidden":
                    hidden += 1
                    continue
                steps.append({"restricted": True, "occurred_local": self._local(row["occurred_at"])[:7]})
                continue
            steps.append({"restricted": False, "event_type": row["event_type"], "stage": row["stage"] or None,
                          "agency": row["agency"], "office_name": row["office_name"],
                          "case_number": row["case_number"] or None, "outcome": row["outcome"] or None,
                          "my_role": row["role"], "occurred_at": iso_utc(row["occurred_at"]),
                          "occurred_local": self._local(row["occurred_at"])})
        case = self.services.cases.case(party.case_id)
        shown_types = sorted({str(s["event_type"]) for s in steps if not s["restricted"]})
        record = self._audit(party, "allowed", event_types=shown_types, hidden=hidden)
        return {"case_id": party.case_id, "case_kind": case.kind if case else None,
                "case_open": case.is_open if case else None, "steps": steps, "audit_seq": record.seq,
                "zone": self.access.zone}

    def accesses(self, session: str) -> dict[str, Any]:
        """Who looked at the party's data (see the module's doc)."""
        party = self.signed_in(session)
        self.services.refresh()
        ids = set(self._ids(party.person_id))
        now = self.clock()
        restrictions = self.services.restrictions
        cases = self.services.cases
        shown, withheld = [], 0
        for row in dpo.audit_rows(self.services.audit_records()):
            if row["subject"] not in ids or row["role"] == PARTY_ROLE:
                continue
            kind = restrictions.restriction_for(None, row["case_id"] or None, now) if row["case_id"] else None
            if kind is not None and kind in self.view.accesses_withheld:
                withheld += 1
                continue
            agency, _, office = str(row["organisation"]).partition(":")
            own_case = bool(row["case_id"]) and any(cases.is_party(row["case_id"], p) for p in ids)
            shown.append({"at": iso_utc(row["at"]), "at_local": self._local(row["at"]),
                          "agency": agency if office else "", "office": office or agency, "role": row["role"],
                          "purpose": row["purpose"], "decision": row["decision"], "reason": row["reason"],
                          "case_id": row["case_id"] if own_case else None, "break_glass": row["break_glass"]})
        shown.sort(key=lambda a: a["at"], reverse=True)
        consents = [{"consent_id": c.consent_id, "grantee_role": c.grantee_role, "purpose": c.purpose,
                     "field_classes": sorted(c.field_classes), "valid_from": iso_utc(c.valid_from),
                     "valid_until": iso_utc(c.valid_until), "withdrawn_at": iso_utc(c.withdrawn_at),
                     "active": c.is_active(now)}
                    for person in sorted(ids) for c in self.services.consents.history(person)]
        record = self._audit(party, "allowed", event_types=["AccessAudited"], hidden=withheld)
        return {"person_ids": sorted(ids), "accesses": shown, "consents": consents, "audit_seq": record.seq,
                "zone": self.access.zone}

    # -- helpers --------------------------------------------------------------------------------------
    def _ids(self, person_id: str) -> list[str]:
        feed = self.services.feed
        return feed.person_ids(person_id) if feed is not None else queries.resolve_person(self.services.store,
                                                                                          person_id)

    def _restriction(self, row: dict[str, Any], now: datetime) -> str | None:
        """The restriction in force on the record (or its case): the directory the feed keeps knows lifts."""
        return self.services.restrictions.restriction_for(row["event_id"], row["case_number"] or None, now)

    def _audit(self, party: PartyAccess, reason: str, *, event_types: list[str] | None = None,
               hidden: int = 0) -> Any:
        flags = (WITHHELD_FLAG,) if hidden else ()
        return self.services.trail.append(AuditEntry(
            self.clock(), f"party:{party.code_id}", PARTY_ROLE, "", PARTY_PURPOSE, 200, "allowed", PARTY_RULE, reason,
            party.case_id, party.person_id, "the data subject's own access", tuple(event_types or ()),
            flags=flags, hidden_restricted=hidden))

    def _local(self, value: datetime | None) -> str:
        return local_text_or_none(value, self.access.zone) or ""


def party_service(access: PersonAccess) -> PartyService:
    """The party service of these services (its codes registry, the policy's [party_view]); refused when the
    policy has no [party_view] or the services were built without a codes registry."""
    services = access.services
    view = services.policy.party_view
    if view is None or services.party_codes is None:
        raise AccessRefused(404, "party_view_not_configured")
    return PartyService(access, services.party_codes, view, services.now)
