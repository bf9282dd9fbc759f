"""What each agency event means for dispute threading: its stage, whether it may start a thread,
which numbers identify it and which records it references, its dispute type, and the inference
rule (type compatibility, time windows, party overlap). README.md states the rules in words."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000

# How an event takes part in threading.
START = "start"          # joins a thread by reference or inference, or founds a new one
JOIN_ONLY = "join_only"  # joins only through an explicit reference; waits for it, never founds a thread
IGNORE = "ignore"        # not part of any dispute (civil-status registrations)


@dataclass(frozen=True, slots=True)
class Rule:
    stage: str
    mode: str
    own: tuple[tuple[str, str], ...] = ()    # (agency, field): the agency's own numbers of this record
    refs: tuple[tuple[str, str], ...] = ()   # (agency, field): numbers of other records it names
    type_field: str | None = None            # field holding a DisputeType
    fixed_type: str | None = None            # dispute type implied by the event type
    applicant_only: bool = False             # inference may rest on the first party alone


RULES: dict[str, Rule] = {
    # police
    "IncidentReported": Rule("incident", START, own=(("police", "incident_number"),), type_field="dispute_type"),
    "DomesticViolenceWarningIssued": Rule("warning", START, own=(("police", "warning_number"),),
                                          refs=(("police", "incident_number"),), fixed_type="marriage_family"),
    "DisputeReferredToMediation": Rule("referral", START, own=(("police", "referral_number"),),
                                       refs=(("police", "incident_number"),), type_field="dispute_type"),
    # justice: people's mediation
    "MediationCaseOpened": Rule("mediation", START, own=(("justice", "mediation_case_number"),),
                                type_field="dispute_type"),
    "MediationConcluded": Rule("mediation_outcome", START, own=(("justice", "mediation_case_number"),)),
    # court
    "CaseFiled": Rule("court_filing", START, own=(("court", "case_number"),), type_field="cause_of_action"),
    "DocumentsServed": Rule("service", START, own=(("court", "case_number"),)),
    "HearingHeld": Rule("hearing", START, own=(("court", "case_number"),)),
    "JudgmentIssued": Rule("judgment", START, own=(("court", "case_number"),)),
    "MediationAgreementConfirmed": Rule("confirmation", START, own=(("court", "case_number"),),
                                        refs=(("justice", "mediation_case_number"),)),
    "EnforcementUpdated": Rule("enforcement", START, own=(("court", "case_number"),),
                               refs=(("court", "original_case_number"),)),
    "ProtectionOrderIssued": Rule("protection_order", START, own=(("court", "case_number"),),
                                  fixed_type="marriage_family"),
    # justice: legal aid is about a matter (e.g. unpaid wages) and joins that dispute of the applicant
    "LegalAidApplied": Rule("other", START, own=(("justice", "aid_number"),), type_field="matter_type",
                            applicant_only=True),
    "LegalAidGranted": Rule("other", START, own=(("justice", "aid_number"),), applicant_only=True),
    # justice: corrections and hand-overs follow a sentence; they are no dispute of their own
    "CommunityCorrectionStarted": Rule("other", JOIN_ONLY, own=(("justice", "correction_number"),),
                                       refs=(("court", "judgment_case_number"),)),
    "CommunityCorrectionEnded": Rule("other", JOIN_ONLY, own=(("justice", "correction_number"),)),
    "ReleaseNoticeIssued": Rule("other", JOIN_ONLY, own=(("justice", "notice_number"),)),
    "ReleasedPrisonerReceived": Rule("other", JOIN_ONLY, own=(("justice", "handover_number"),)),
    # civil affairs: a registration is a civil-status act, not a dispute
    "MarriageRegistered": Rule("other", IGNORE),
    "DivorceRegistered": Rule("other", IGNORE),
}

# Incident categories that imply a dispute type when the police left dispute_type empty.
INCIDENT_CATEGORY_TYPES: dict[str, str] = {
    "domestic_dispute": "marriage_family", "domestic_violence": "marriage_family",
    "neighbour_dispute": "neighbour", "wage_arrears": "labour_wages", "traffic": "traffic_accident",
    "fight": "damages",
}

# Types that are often the same dispute under another label (a neighbours' quarrel over a
# homestead boundary, a fight between neighbours claimed as damages). An unknown type (None:
# the event says nothing about it) is compatible with everything. "other" is what a connector
# writes when no type fits (e.g. a court cause of action outside its vocabulary), so it fits
# any type, but only between the same two parties (`compatible(..., shared)`).
_RELATED_TYPES: tuple[frozenset[str], ...] = (
    frozenset({"neighbour", "land_homestead", "damages"}),
)
UNSPECIFIC = "other"


def rule_of(event_type: str) -> Rule | None:
    return RULES.get(event_type)


def normalise_number(value: str) -> str:
    """Agency numbers as typed: full-width brackets and digits, stray spaces."""
    return "".join(unicodedata.normalize("NFKC", value).split())


def number_key(agency: str, number: str) -> str:
    return f"{agency}:{normalise_number(number)}"


def event_keys(event_type: str, record: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(own keys, referenced keys) of an event, as "agency:number"."""
    rule = RULES.get(event_type)
    own: list[str] = []
    refs: list[str] = []
    if rule is None:
        return own, refs
    for agency, field in rule.own:
        value = record.get(field)
        if value:
            own.append(number_key(agency, value))
    for agency, field in rule.refs:
        value = record.get(field)
        if value:
            refs.append(number_key(agency, value))
    for ref in record["envelope"].get("related") or ():
        if ref.get("record_id") and ref.get("agency") != "hub":
            refs.append(number_key(ref["agency"], ref["record_id"]))
    own = list(dict.fromkeys(own))
    refs = [k for k in dict.fromkeys(refs) if k not in own]
    return own, refs


def stage_of(event_type: str, record: dict[str, Any]) -> str:
    rule = RULES.get(event_type)
    if rule is None:
        return "other"
    if event_type == "CaseFiled" and record.get("case_type") == "enforcement":
        return "enforcement"
    return rule.stage


def dispute_type_of(event_type: str, record: dict[str, Any]) -> str | None:
    """The event's dispute type, or None when the event says nothing about it."""
    rule = RULES.get(event_type)
    if rule is None:
        return None
    if rule.fixed_type:
        return rule.fixed_type
    value = record.get(rule.type_field) if rule.type_field else None
    if value is None and event_type == "IncidentReported":
        value = INCIDENT_CATEGORY_TYPES.get(record.get("category") or "")
    return value


def compatible(a: str | None, b: str | None, shared: int = 0) -> bool:
    """Whether two dispute types may be one dispute; `shared`: resolved parties in common."""
    if a is None or b is None or a == b:
        return True
    if UNSPECIFIC in (a, b):
        return shared >= 2
    return any(a in group and b in group for group in _RELATED_TYPES)


def refine_type(current: str | None, new: str | None) -> str | None:
    """A thread's type: the first specific type seen; "other" only until a specific one comes."""
    if current is None or (current == UNSPECIFIC and new is not None):
        return new if new is not None else current
    return current


# --- inference ------------------------------------------------------------------------------------
WINDOW_DAYS = 180            # a record joins a thread at most this long after its last (before its first) event
FAMILY_PAIR_WINDOW_DAYS = 5 * 365   # a couple's marriage & family troubles are one story for years
ANCHOR_WINDOW_DAYS = 60      # a legal-aid applicant alone links threads this close to the application


def one_story_per_pair(dispute_type: str | None, shared: int) -> bool:
    """A couple's marriage & family records are one dispute, however many police calls."""
    return dispute_type == "marriage_family" and shared >= 2


def window_ms(dispute_type: str | None, shared: int) -> int:
    if one_story_per_pair(dispute_type, shared):
        return FAMILY_PAIR_WINDOW_DAYS * DAY_MS
    return WINDOW_DAYS * DAY_MS


def gap_ms(at: int, first: int, last: int) -> int:
    """How far `at` lies outside the span [first, last] (0 inside it)."""
    if at < first:
        return first - at
    if at > last:
        return at - last
    return 0


def anchor_links(type_a: str | None, type_b: str | None, first_b: int, last_b: int, anchor_times: list[int]) -> bool:
    """Whether one shared party suffices because it is a legal-aid applicant whose application
    (at one of `anchor_times`, on side a) lies close to side b's span [first_b, last_b]; both
    types must be known and compatible (legal aid for wages joins that worker's wage dispute)."""
    if type_a is None or type_b is None or not compatible(type_a, type_b):
        return False
    limit = ANCHOR_WINDOW_DAYS * DAY_MS
    return any(gap_ms(at, first_b, last_b) <= limit for at in anchor_times)


def overlap_is_enough(shared: int, record_persons: int, thread_persons: int, anchored: bool) -> bool:
    """Two parties in common; or one, when one side has only one resolved party (the other party
    is an organisation or unresolved) or that party is a legal-aid applicant (`anchor_links`)."""
    if shared >= 2:
        return True
    if shared == 1:
        return record_persons <= 1 or thread_persons <= 1 or anchored
    return False
