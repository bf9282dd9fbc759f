"""Released prisoners' hand-overs (安置帮教衔接, "必接必送"): each prison release notice, routed to the justice
office of the person's registered residence, and whether that office received the person in time.

A notice (ReleaseNoticeIssued; its county and office are the receiving ones, its time the release) is
*received* by the first ReleasedPrisonerReceived of the same person (hub person ids, following merges) at
or after the release and within `MATCH_DAYS`; in time when within the days of the alert rule
`released_prisoner_not_received` (streams/alerts/rules.toml: one place for the rule; the same rule raises the
red alert to the office). Otherwise it is *late*, or, with no receipt, *open*: overdue once its due date
has passed, else pending. A notice is *cross-county* when the sentence it follows (its `related` judgment)
is a case of another county of the deployment. Read from the views (plain facts, the persons of each
record): no personal field anywhere; restricted records take no part. The bureau reads them on its dashboard
(dashboard.py); a justice office reads the ones routed to it (`office_handovers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.services.access import Caller, PersonAccess
from runtime.clock import local_date, to_utc
from runtime.viewstore import ViewStore
from streams.alerts import load_rules

RULE = "released_prisoner_not_received"
DIVISION_CODE = re.compile(r"\d{6}")
MATCH_DAYS = 180   # a receipt this long after a release still answers its notice (a later one: a new release)

_RECORDS = """
SELECT f.event_type AS event_type, f.case_number AS number, f.county_code AS county, f.office_name AS office,
       f.occurred_at AS at, f.related_case AS related_case,
       groupUniqArrayIf(if(pr.person_id = '', t.person_id, pr.person_id), t.person_id != '') AS persons
FROM (SELECT * FROM event_facts FINAL WHERE is_deleted = 0 AND restricted = 0 AND case_number != ''
      AND event_type IN ('ReleaseNoticeIssued', 'ReleasedPrisonerReceived')) AS f
LEFT JOIN (SELECT event_id, person_id FROM timeline FINAL WHERE is_deleted = 0) AS t ON t.event_id = f.event_id
LEFT JOIN (SELECT retired_id, person_id FROM person_redirects FINAL) AS pr ON pr.retired_id = t.person_id
GROUP BY event_type, number, county, office, at, related_case
"""

# the county of each court case a notice follows (its judgment)
_CASE_COUNTIES = """
SELECT case_number, any(county_code) AS county FROM event_facts FINAL
WHERE is_deleted = 0 AND agency = 'court' AND case_number IN (
    SELECT related_case FROM event_facts FINAL
    WHERE is_deleted = 0 AND event_type = 'ReleaseNoticeIssued' AND related_case != '')
GROUP BY case_number
"""


@dataclass(frozen=True, slots=True)
class Handover:
    notice_number: str
    county: str                 # receiving county (the registered residence's)
    office_name: str            # receiving justice office
    released_at: datetime
    due_at: datetime
    received_at: datetime | None
    receipt_number: str
    sentenced_in: str           # the county whose court passed the sentence, when it is in the views

    @property
    def cross_county(self) -> bool:
        return bool(self.sentenced_in) and self.sentenced_in != self.county

    def status(self, now: datetime) -> str:
        """received_in_time | received_late | open_overdue | pending"""
        if self.received_at is not None:
            return "received_in_time" if self.received_at <= self.due_at else "received_late"
        return "open_overdue" if now > self.due_at else "pending"


def due_days(rules_path: str | None = None) -> float:
    """The days a notice has before the office must have received the person: the alert rule's."""
    rule = next((r for r in load_rules(rules_path).rules if r.name == RULE), None)
    if rule is None:
        raise ValueError(f"the alert rules have no {RULE!r} rule: the hand-over deadline is that rule's")
    return rule.within_ms / 86_400_000


class Handovers:
    def __init__(self, store: ViewStore, days: float | None = None) -> None:
        self.store = store
        self.days = due_days() if days is None else days

    def all(self) -> list[Handover]:
        notices: list[dict[str, Any]] = []
        receipts: list[dict[str, Any]] = []
        for row in self.store.query_dicts(_RECORDS):
            row["at"] = to_utc(row["at"])
            (notices if row["event_type"] == "ReleaseNoticeIssued" else receipts).append(row)
        receipts.sort(key=lambda r: (r["at"], r["number"]))
        by_person: dict[str, list[dict[str, Any]]] = {}
        for r in receipts:
            for person in r["persons"]:
                by_person.setdefault(person, []).append(r)
        counties = {str(c): str(k) for c, k in self.store.query_rows(_CASE_COUNTIES)}
        found: dict[str, Handover] = {}
        for n in sorted(notices, key=lambda n: (n["at"], n["number"])):
            window = n["at"] + timedelta(days=MATCH_DAYS)
            receipt = min((r for p in n["persons"] for r in by_person.get(p, ()) if n["at"] <= r["at"] <= window),
                          key=lambda r: (r["at"], r["number"]), default=None)
            found.setdefault(n["number"], Handover(
                n["number"], n["county"], n["office"], n["at"], n["at"] + timedelta(days=self.days),
                receipt["at"] if receipt else None, receipt["number"] if receipt else "",
                counties.get(n["related_case"], "")))
        return sorted(found.values(), key=lambda h: (h.released_at, h.notice_number))


def office_handovers(access: PersonAccess, caller: Caller) -> dict[str, Any]:
    """The hand-overs routed to the caller's justice office (role correction_officer, purpose
    resettlement_handover; the read audited like any other): each notice's number, release and due day,
    received or not, cross-county — no person. An office is matched by its name among the caller's offices
    (and organisation); an officer whose offices also name a county (6-digit division code) sees that county's
    only. Open past due first."""
    result = access.require(caller, None)
    user = result.user
    names = {*(user.offices if user else ()), (user.organisation.split(":", 1)[-1] if user else "")} - {""}
    counties = {o for o in names if DIVISION_CODE.fullmatch(o)}
    now = access.services.now()
    rows: list[dict[str, Any]] = []
    for h in Handovers(access.services.store).all():
        if h.office_name not in names or (counties and h.county not in counties):
            continue
        status = h.status(now)
        rows.append({"notice_number": h.notice_number, "county_code": h.county, "office_name": h.office_name,
                     "released_on": local_date(h.released_at, access.zone).isoformat(),
                     "due_on": local_date(h.due_at, access.zone).isoformat(), "status": status,
                     "received_on": local_date(h.received_at, access.zone).isoformat() if h.received_at else None,
                     "days_overdue": (now - h.due_at).days if status == "open_overdue" else 0,
                     "sentenced_in": h.sentenced_in, "cross_county": h.cross_county})
    order = {"open_overdue": 0, "pending": 1, "received_late": 2, "received_in_time": 3}
    rows.sort(key=lambda r: (order[r["status"]], -r["days_overdue"], r["released_on"], r["notice_number"]))
    return {"offices": sorted(names - counties), "counties": sorted(counties), "handovers": rows,
            "open": sum(1 for r in rows if r["status"] == "open_overdue"), "audit_seq": result.audit.seq}
