"""Which cases are open and who are their parties — the facts purpose binding rests on.

An in-memory directory fed by events (replayable from the log): a case opens on its
opening event (MediationCaseOpened, CaseFiled, CommunityCorrectionStarted, ...) and closes
on its concluding one — for a police incident also on its referral to mediation — or, for the
kinds the policy gives a lifetime (`case_open_days`: an incident, a registration under review),
once that many days have passed on the hub's event clock: the newest record seen from any agency.
The event clock, not the wall clock, so that a replay of the log gives the same answer as the live
run, and a county's historic data (the demo's) has the cases open that were open at its end.
Parties are hub person ids: events enriched by identity resolution carry them (`person_ids`, or
`person_id` on each party), and `add_party` links them later.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

# event type -> (case kind, field holding the case number, action)
CASE_EVENTS: dict[str, tuple[str, str, str]] = {
    "MediationCaseOpened": ("mediation", "mediation_case_number", "open"),
    "MediationConcluded": ("mediation", "mediation_case_number", "close"),
    "CaseFiled": ("court", "case_number", "open"),
    "DocumentsServed": ("court", "case_number", "update"),
    "HearingHeld": ("court", "case_number", "update"),
    "JudgmentIssued": ("court", "case_number", "close"),
    "CaseClosed": ("court", "case_number", "close"),
    "CommunityCorrectionStarted": ("correction", "correction_number", "open"),
    "CommunityCorrectionEnded": ("correction", "correction_number", "close"),
    "ReleaseNoticeIssued": ("resettlement", "notice_number", "open"),   # the office is to receive the person
    "ReleasedPrisonerReceived": ("resettlement", "handover_number", "open"),
    "ResettlementEnded": ("resettlement", "handover_number", "close"),
    "LegalAidApplied": ("legal_aid", "aid_number", "open"),
    "LegalAidGranted": ("legal_aid", "aid_number", "update"),  # closes when granted is false
    "LegalAidClosed": ("legal_aid", "aid_number", "close"),
    "IncidentReported": ("police_incident", "incident_number", "open"),
    "DisputeReferredToMediation": ("police_incident", "incident_number", "close"),  # handed to the mediators
    "IncidentClosed": ("police_incident", "incident_number", "close"),
    "MarriageRegistered": ("registration", "registration_number", "open"),
    "DivorceRegistered": ("registration", "registration_number", "open"),
}
# Fields that name the case an event belongs to, most specific first.
CASE_NUMBER_FIELDS = ("case_number", "mediation_case_number", "correction_number", "handover_number",
                      "notice_number", "aid_number", "incident_number", "registration_number")
DAY = timedelta(days=1)
# the brackets people type around a case number's year, as the agencies' ( ) after NFKC
_BRACKETS = str.maketrans({"[": "(", "〔": "(", "【": "(", "﹝": "(", "〖": "(",
                           "]": ")", "〕": ")", "】": ")", "﹞": ")", "〗": ")"})


def case_key(case_id: str) -> str:
    """A case number as people type it, folded for finding the case the agency wrote: full-width and
    half-width forms alike (NFKC: （２０２５） is (2025)), any bracket around the year alike (〔2025〕,
    【2025】), spaces dropped, letters in either case. The case keeps its number as the agency wrote it."""
    folded = unicodedata.normalize("NFKC", case_id).translate(_BRACKETS)
    return "".join(ch for ch in folded if not ch.isspace()).casefold()


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    kind: str
    is_open: bool
    office: str = ""
    parties: frozenset[str] = frozenset()
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    office_name: str = ""  # the office as its agency names it (a committee, a station, a justice office)


class CaseDirectory(Protocol):
    def case(self, case_id: str) -> Case | None: ...

    def open_case(self, case_id: str) -> Case | None: ...

    def is_party(self, case_id: str, person_id: str) -> bool: ...


def case_ref(event_type: str, fields: dict[str, Any]) -> str | None:
    """The case number an event belongs to, if any."""
    if event_type in CASE_EVENTS:
        value = fields.get(CASE_EVENTS[event_type][1])
        if value:
            return str(value)
    for name in CASE_NUMBER_FIELDS:
        if fields.get(name):
            return str(fields[name])
    return None


def event_time(fields: dict[str, Any]) -> datetime | None:
    occurred = (fields.get("envelope") or {}).get("occurred_at")
    if isinstance(occurred, datetime):
        return occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC)
    if isinstance(occurred, int):
        return datetime.fromtimestamp(occurred / 1000, UTC)
    return None


def person_ids(fields: dict[str, Any]) -> set[str]:
    found = {str(p) for p in fields.get("person_ids") or () if p}
    for party in fields.get("parties") or ():
        if isinstance(party, dict) and party.get("person_id"):
            found.add(str(party["person_id"]))
    return found


@dataclass(slots=True)
class _MutableCase:
    kind: str
    office: str = ""
    parties: set[str] = field(default_factory=set)
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    closed: bool = False
    office_name: str = ""

    def frozen(self, case_id: str, open_days: int | None = None, clock: datetime | None = None) -> Case:
        closed, closed_at = self.closed, self.closed_at
        if not closed and open_days and self.opened_at and clock and self.opened_at + open_days * DAY <= clock:
            closed, closed_at = True, self.opened_at + open_days * DAY  # closed by age
        return Case(case_id, self.kind, not closed, self.office, frozenset(self.parties), self.opened_at, closed_at,
                    self.office_name)


class InMemoryCaseDirectory:
    """Thread-safe; state is only what the applied events say. `open_days` is the policy's
    `case_open_days` (case kind -> days a case stays open without a closing event)."""

    def __init__(self, open_days: dict[str, int] | None = None) -> None:
        self._cases: dict[str, _MutableCase] = {}
        self._keys: dict[str, set[str]] = {}  # case_key -> the case numbers as written that fold to it
        self._lock = threading.Lock()
        self._open_days = dict(open_days or {})
        self.clock: datetime | None = None  # the newest event time applied

    def apply_event(self, event_type: str, fields: dict[str, Any]) -> None:
        if event_type == "PersonsMerged":
            self._merge(str(fields["retired_person_id"]), str(fields["surviving_person_id"]))
            return
        when = event_time(fields)
        if when is not None and (self.clock is None or when > self.clock):
            self.clock = when
        if event_type not in CASE_EVENTS:
            return
        kind, number_field, action = CASE_EVENTS[event_type]
        case_id = fields.get(number_field)
        if not case_id:
            raise ValueError(f"{event_type}: field {number_field!r} is empty; expected the case number")
        source = (fields.get("envelope") or {}).get("source") or {}
        office = str(fields.get("supervising_office") or source.get("office_code") or "")
        office_name = str(fields.get("supervising_office") or source.get("office_name") or "")
        if event_type == "LegalAidGranted" and fields.get("granted") is False:
            action = "close"
        with self._lock:
            case = self._add(str(case_id), kind)
            case.parties |= person_ids(fields)
            if action == "open":
                case.office = office or case.office
                case.office_name = office_name or case.office_name
                case.opened_at = when
                # an opening that happened after a recorded close re-opens; one replayed late does not
                case.closed = case.closed_at is not None and (when is None or when <= case.closed_at)
            elif action == "close":
                case.closed, case.closed_at = True, when
            elif not case.office:
                case.office, case.office_name = office, office_name

    def _add(self, case_id: str, kind: str) -> _MutableCase:
        case = self._cases.get(case_id)
        if case is None:
            case = self._cases[case_id] = _MutableCase(kind)
            self._keys.setdefault(case_key(case_id), set()).add(case_id)
        return case

    def _written(self, case_id: str) -> str | None:
        """The case number as the agency wrote it: the number given, or else the one case whose number
        folds to the same key (never a guess between two)."""
        if case_id in self._cases:
            return case_id
        written = self._keys.get(case_key(case_id), ())
        return next(iter(written)) if len(written) == 1 else None

    def add_party(self, case_id: str, person_id: str) -> None:
        with self._lock:
            if case_id in self._cases:
                self._cases[case_id].parties.add(person_id)

    def _merge(self, retired: str, surviving: str) -> None:
        with self._lock:
            for case in self._cases.values():
                if retired in case.parties:
                    case.parties.discard(retired)
                    case.parties.add(surviving)

    def case(self, case_id: str) -> Case | None:
        """The case, under its number as the agency wrote it, however the caller typed it (case_key)."""
        with self._lock:
            written = self._written(case_id)
            return self._frozen(written, self._cases[written]) if written is not None else None

    def _frozen(self, case_id: str, case: _MutableCase) -> Case:
        return case.frozen(case_id, self._open_days.get(case.kind), self.clock)

    def cases(self) -> list[Case]:
        """Every case, open or closed (for listing: the demo, the DPO)."""
        with self._lock:
            return [self._frozen(cid, c) for cid, c in self._cases.items()]

    def restore(self, case: Case) -> None:
        """Put back a case as a projection stored it (a restarted projector), events after it apply on top."""
        with self._lock:
            self._keys.setdefault(case_key(case.case_id), set()).add(case.case_id)
            self._cases[case.case_id] = _MutableCase(case.kind, case.office, set(case.parties), case.opened_at,
                                                     case.closed_at, not case.is_open, case.office_name)

    def case_ids_of(self, person_id: str) -> list[str]:
        with self._lock:
            return [cid for cid, c in self._cases.items() if person_id in c.parties]

    def forget_party(self, person_id: str) -> list[str]:
        """An erased person is no party of any case any more; returns the cases that named them."""
        with self._lock:
            touched = [cid for cid, c in self._cases.items() if person_id in c.parties]
            for case_id in touched:
                self._cases[case_id].parties.discard(person_id)
            return touched

    def open_case(self, case_id: str) -> Case | None:
        found = self.case(case_id)
        return found if found and found.is_open else None

    def is_party(self, case_id: str, person_id: str) -> bool:
        with self._lock:
            written = self._written(case_id)
            return written is not None and person_id in self._cases[written].parties


__all__ = ["CASE_EVENTS", "Case", "CaseDirectory", "InMemoryCaseDirectory", "case_key", "case_ref", "event_time",
           "person_ids"]
