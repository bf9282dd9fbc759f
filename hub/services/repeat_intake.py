"""Repeat-mediation warnings at intake (重复调解预警): a mediation case opened, or a lawsuit filed, on a dispute
that another office already has in hand.

Two intakes — people's mediation cases (MediationCaseOpened) and lawsuits (CaseFiled whose case number has
one of the rule's type codes, 民初 by default: a first-instance civil case, not a criminal, enforcement or
confirmation case) — make a warning when the later one was taken in while the earlier was still open (not
concluded, not judged, at the later one's time), neither names the other as its source (a court's delegation
to a committee is a hand-over), and either they are on the same dispute thread, or they
share at least `min_shared_parties` persons and the dispute type, within `window_days`. An escalation is
never one: the lower case is concluded ("escalated") before the upper one opens. Each of the two handlers
sees the other case — agency, office, case number, stage, open or not — on their own case; the bureau counts
the pairs. Read from the views (intakes, conclusions, threads, the persons of each record), so the answer
does not depend on the order the agencies' records arrived in; restricted records (sealed, covert) take no
part. The rules are data: `repeat_intake.toml`.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from consent.access.decisions import CASE_METADATA_LOOKUP
from hub.services.access import AccessRefused, Caller, PersonAccess
from runtime.clock import iso_utc, local_text_or_none, to_utc
from runtime.tomlcheck import TomlChecker, TomlError
from runtime.viewstore import ViewStore

RULES_PATH = Path(__file__).with_name("repeat_intake.toml")
INTAKE_TYPES = ("MediationCaseOpened", "CaseFiled")
CONCLUDING_TYPES = ("MediationConcluded", "JudgmentIssued")
INTAKE_CASE_KINDS = ("mediation", "court")


class RepeatRulesError(TomlError):
    """repeat_intake.toml is invalid; the message names the file, the line and the key."""


@dataclass(frozen=True, slots=True)
class RepeatRules:
    court_case_types: tuple[str, ...]    # 案号 type codes (类型代字) of lawsuits that are intakes, e.g. 民初
    window_days: int                     # same parties and type: the later intake within this many days
    min_shared_parties: int              # same parties: at least this many persons in common
    ignore_dispute_types: tuple[str, ...]  # types too vague to call two disputes the same (other, unknown)

    def is_intake(self, event_type: str, case_number: str) -> bool:
        if event_type == "MediationCaseOpened":
            return True
        return any(code in case_number for code in self.court_case_types)


class _Checker(TomlChecker):
    error = RepeatRulesError


def load_rules(path: Path | str | None = None) -> RepeatRules:
    source = Path(path) if path is not None else RULES_PATH
    try:
        text = source.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise RepeatRulesError(f"cannot read: {exc.strerror}", source, None) from None
    except tomllib.TOMLDecodeError as exc:
        raise RepeatRulesError(f"not valid TOML: {exc}", source, getattr(exc, "lineno", None)) from None
    check = _Checker(source, text)
    check.keys(data, (), {"court_case_types", "window_days", "min_shared_parties", "ignore_dispute_types"})
    codes = check.string_list(data["court_case_types"], ("court_case_types",))
    if not codes or any(not code.strip() for code in codes):
        raise check.fail(("court_case_types",), "expected one or more case-number type codes, e.g. [\"民初\"]")
    return RepeatRules(tuple(codes), check.integer(data["window_days"], ("window_days",), 1),
                       check.integer(data["min_shared_parties"], ("min_shared_parties",), 1),
                       tuple(check.string_list(data["ignore_dispute_types"], ("ignore_dispute_types",))))


# Every intake with its thread (following redirects), office, county, type and the persons on it (following
# person redirects); its conclusion, if any; its latest stage. No personal field is read: person ids only.
_INTAKES = """
SELECT f.case_number AS case_number, f.event_type AS event_type, f.agency AS agency, f.office_name AS office_name,
       f.county_code AS county, f.occurred_at AS opened_at, f.dispute_type AS dispute_type,
       f.related_case AS related_case, f.outcome AS outcome, if(r.dispute_id = '', d.dispute_id, r.dispute_id) AS thread,
       groupUniqArrayIf(if(pr.person_id = '', t.person_id, pr.person_id), t.person_id != '') AS persons
FROM (SELECT * FROM event_facts FINAL WHERE is_deleted = 0 AND restricted = 0 AND case_number != ''
      AND event_type IN {types:Array(String)}) AS f
LEFT JOIN (SELECT event_id, dispute_id FROM dispute_events FINAL WHERE is_deleted = 0) AS d ON d.event_id = f.event_id
LEFT JOIN (SELECT retired_id, dispute_id FROM dispute_redirects FINAL) AS r ON r.retired_id = d.dispute_id
LEFT JOIN (SELECT event_id, person_id FROM timeline FINAL WHERE is_deleted = 0) AS t ON t.event_id = f.event_id
LEFT JOIN (SELECT retired_id, person_id FROM person_redirects FINAL) AS pr ON pr.retired_id = t.person_id
GROUP BY case_number, event_type, agency, office_name, county, opened_at, dispute_type, related_case, outcome, thread
"""

_CASES = """
SELECT case_number, minIf(occurred_at, event_type IN {closing:Array(String)}) AS closed_at,
       countIf(event_type IN {closing:Array(String)}) AS closings,
       argMax(stage, (occurred_at, event_id)) AS stage
FROM event_facts FINAL
WHERE is_deleted = 0 AND restricted = 0 AND case_number != ''
GROUP BY case_number
"""


@dataclass(frozen=True, slots=True)
class Intake:
    case_number: str
    agency: str
    office_name: str
    county: str
    opened_at: datetime
    dispute_type: str
    thread: str
    persons: frozenset[str]
    closed_at: datetime | None
    stage: str
    related_case: str = ""   # the record it names as its source: a referral or delegation, not a repeat
    event_type: str = ""
    outcome: str = ""

    def open_at(self, moment: datetime) -> bool:
        return self.opened_at <= moment and (self.closed_at is None or self.closed_at > moment)


@dataclass(frozen=True, slots=True)
class RepeatWarning:
    earlier: Intake
    later: Intake
    why: str                 # "same_thread" | "same_parties"
    shared_parties: int


class RepeatIntakes:
    def __init__(self, store: ViewStore, rules: RepeatRules | None = None) -> None:
        self.store = store
        self.rules = rules or load_rules()

    def records(self, types: tuple[str, ...] = INTAKE_TYPES) -> list[Intake]:
        """Every record of these types that names a case (restricted ones left out), oldest first, with its
        case's conclusion and latest stage."""
        cases = {row["case_number"]: row for row in self.store.query_dicts(_CASES, {"closing": list(CONCLUDING_TYPES)})}
        found: dict[tuple[str, str], Intake] = {}
        for row in self.store.query_dicts(_INTAKES, {"types": list(types)}):
            number = row["case_number"]
            case = cases.get(number, {})
            closed = to_utc(case["closed_at"]) if case.get("closings") else None
            record = Intake(number, row["agency"], row["office_name"], row["county"], to_utc(row["opened_at"]),
                            row["dispute_type"], row["thread"] or "", frozenset(row["persons"]), closed,
                            case.get("stage") or "", row["related_case"] or "", row["event_type"], row["outcome"] or "")
            key = (number, row["event_type"])
            known = found.get(key)   # a record in two threads' rows: keep the earliest placement
            if known is None or (record.opened_at, record.thread) < (known.opened_at, known.thread):
                found[key] = record
        return sorted(found.values(), key=lambda i: (i.opened_at, i.case_number))

    def intakes(self) -> list[Intake]:
        return [r for r in self.records() if self.rules.is_intake(r.event_type, r.case_number)]

    def pair(self, earlier: Intake, later: Intake) -> RepeatWarning | None:
        """The warning two intakes make (`earlier` taken in first), or None."""
        if earlier.case_number == later.case_number or not earlier.open_at(later.opened_at):
            return None
        if later.related_case == earlier.case_number or earlier.related_case == later.case_number:
            return None   # one office handed the dispute to the other (法院委派, 警调对接): not a repeat
        shared = len(earlier.persons & later.persons)
        if earlier.thread and earlier.thread == later.thread:
            return RepeatWarning(earlier, later, "same_thread", shared)
        if (shared >= self.rules.min_shared_parties and earlier.dispute_type == later.dispute_type
                and earlier.dispute_type not in self.rules.ignore_dispute_types
                and later.opened_at - earlier.opened_at <= timedelta(days=self.rules.window_days)):
            return RepeatWarning(earlier, later, "same_parties", shared)
        return None

    def warnings(self) -> list[RepeatWarning]:
        """Every warning of the county's intakes: candidates share a thread or a person."""
        intakes = self.intakes()
        by_key: dict[str, list[int]] = defaultdict(list)
        for index, intake in enumerate(intakes):
            if intake.thread:
                by_key["d:" + intake.thread].append(index)
            for person in intake.persons:
                by_key["p:" + person].append(index)
        candidates = {(a, b) for group in by_key.values() for i, a in enumerate(group) for b in group[i + 1:]}
        found = [self.pair(intakes[a], intakes[b]) for a, b in sorted(candidates)]
        return [w for w in found if w is not None]

    def for_case(self, case_number: str) -> list[RepeatWarning]:
        return [w for w in self.warnings() if case_number in (w.earlier.case_number, w.later.case_number)]


def _other(warning: RepeatWarning, case_number: str, zone: str) -> dict[str, Any]:
    """What the handler of `case_number` sees of the other intake."""
    mine_later = warning.later.case_number == case_number
    other = warning.earlier if mine_later else warning.later
    return {"kind": "repeat_intake", "case_number": other.case_number, "agency": other.agency, "office_name": other.office_name,
            "stage": other.stage or None, "open": other.closed_at is None, "dispute_type": other.dispute_type,
            "opened_at": iso_utc(other.opened_at), "opened_local": local_text_or_none(other.opened_at, zone),
            "why": warning.why, "shared_parties": warning.shared_parties,
            "taken_in": "earlier" if mine_later else "later"}


def repeat_warnings(access: PersonAccess, caller: Caller) -> dict[str, Any]:
    """The warnings of the caller's open case (the gate binds the caller to it, audited): repeat intakes, and
    for a lawsuit or an enforcement filing, a confirmed agreement it goes back on (agreements.py)."""
    from hub.services.agreements import Agreements, flag_view

    result = access.require(caller, None, lookup=CASE_METADATA_LOOKUP)
    case = access.services.cases.case(caller.case_id or "")
    if case is None or case.kind not in INTAKE_CASE_KINDS:
        raise AccessRefused(403, "not_a_dispute_case", audit_seq=result.audit.seq,
                            rule=result.decision.rule if result.decision else "")
    store = access.services.store
    warnings = [_other(w, case.case_id, access.zone) for w in RepeatIntakes(store).for_case(case.case_id)]
    warnings += [flag_view(f, access.zone) for f in Agreements(store).for_case(case.case_id)]
    return {"case_id": case.case_id, "warnings": warnings, "audit_seq": result.audit.seq}
