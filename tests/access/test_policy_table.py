"""The policy, walked exhaustively: every role x purpose x case state x consent state, with the
expected decision, field classes and event types — and the masking those classes produce on a
real protected record (consent/privacy/protect.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from consent.access.cases import InMemoryCaseDirectory
from consent.access.consents import ConsentStore
from consent.access.decisions import DEFAULT_DENY, AccessRequest, decide
from consent.access.policy import FIELD_CLASSES, load_policy
from consent.privacy.keys.local import LocalKeystore
from consent.privacy.protect import MASK_PREFIX, Protector
from schemas import loader

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SUBJECT, OTHER = "P-subject", "P-other"
OFFICE = "office-a"

ROLES = ["mediator", "judge", "court_clerk", "police_officer", "correction_officer", "legal_aid_officer",
         "civil_affairs_registrar", "dpo", "integrator", "bureau_officer"]
PURPOSES = ["dispute_mediation", "adjudication", "community_correction_supervision", "legal_aid_eligibility",
            "risk_prevention", "marriage_registration", "audit", "erasure", "statistics", "consent_records",
            "resettlement_handover"]
CASE_STATES = ["party", "not_party", "closed", "no_case"]
CONSENT_STATES = ["none", "granted", "withdrawn", "expired"]

# The case a request for each purpose names: (case kind, opening event, number field, closing event)
PURPOSE_CASE = {
    "dispute_mediation": ("MediationCaseOpened", "mediation_case_number", "MediationConcluded"),
    "adjudication": ("CaseFiled", "case_number", "JudgmentIssued"),
    "community_correction_supervision": ("CommunityCorrectionStarted", "correction_number",
                                         "CommunityCorrectionEnded"),
    "legal_aid_eligibility": ("LegalAidApplied", "aid_number", "LegalAidClosed"),
    "risk_prevention": ("IncidentReported", "incident_number", "IncidentClosed"),
    "marriage_registration": ("MarriageRegistered", "registration_number", None),  # closes by age only
    "audit": ("MediationCaseOpened", "mediation_case_number", "MediationConcluded"),
    "erasure": ("MediationCaseOpened", "mediation_case_number", "MediationConcluded"),
    "statistics": ("MediationCaseOpened", "mediation_case_number", "MediationConcluded"),
    "consent_records": ("MediationCaseOpened", "mediation_case_number", "MediationConcluded"),
    "resettlement_handover": ("ReleaseNoticeIssued", "notice_number", None),   # binding none: no case read
}

# Cells: "x:<reason>" = denied for that reason; otherwise allowed with the field classes
# B(asic) C(ontact) I(dentifier) S(ensitive) joined by "."; "0" = allowed, no person fields;
# a trailing "+" = the rule's consent-only event types are granted too.
# Consent "granted" covers all four field classes for exactly this role and purpose.
TABLE = """
role                purpose                           case        none           granted        withdrawn      expired
mediator            dispute_mediation                 party       B.C            B.C.I.S+       B.C            B.C
mediator            dispute_mediation                 not_party   x:not_party    x:not_party    x:not_party    x:not_party
mediator            dispute_mediation                 closed      x:case_closed  x:case_closed  x:case_closed  x:case_closed
mediator            dispute_mediation                 no_case     x:no_case      x:no_case      x:no_case      x:no_case
judge               adjudication                      party       B.C.I.S        B.C.I.S        B.C.I.S        B.C.I.S
judge               adjudication                      not_party   x:not_party    x:not_party    x:not_party    x:not_party
judge               adjudication                      closed      x:case_closed  x:case_closed  x:case_closed  x:case_closed
judge               adjudication                      no_case     x:no_case      x:no_case      x:no_case      x:no_case
court_clerk         adjudication                      party       B.C.I          B.C.I          B.C.I          B.C.I
court_clerk         adjudication                      not_party   x:not_party    x:not_party    x:not_party    x:not_party
court_clerk         adjudication                      closed      x:case_closed  x:case_closed  x:case_closed  x:case_closed
court_clerk         adjudication                      no_case     x:no_case      x:no_case      x:no_case      x:no_case
police_officer      risk_prevention                   party       B.C.I          B.C.I.S+       B.C.I          B.C.I
police_officer      risk_prevention                   not_party   x:not_party    x:not_party    x:not_party    x:not_party
police_officer      risk_prevention                   closed      x:case_closed  x:case_closed  x:case_closed  x:case_closed
police_officer      risk_prevention                   no_case     x:no_case      x:no_case      x:no_case      x:no_case
correction_officer  community_correction_supervision  party       B.C.I.S        B.C.I.S        B.C.I.S        B.C.I.S
correction_officer  community_correction_supervision  not_party   x:not_party    x:not_party    x:not_party    x:not_party
correction_officer  community_correction_supervision  closed      x:case_closed  x:case_closed  x:case_closed  x:case_closed
correction_officer  community_correction_supervision  no_case     x:no_case      x:no_case      x:no_case      x:no_case
legal_aid_officer   legal_aid_eligibility             party       x:no_consent   B.C.I          x:no_consent   x:no_consent
legal_aid_officer   legal_aid_eligibility             not_party   x:not_party    x:not_party    x:not_party    x:not_party
legal_aid_officer   legal_aid_eligibility             closed      x:case_closed  x:case_closed  x:case_closed  x:case_closed
legal_aid_officer   legal_aid_eligibility             no_case     x:no_case      x:no_case      x:no_case      x:no_case
civil_affairs_registrar  marriage_registration        party       B.I            B.I            B.I            B.I
civil_affairs_registrar  marriage_registration        not_party   x:not_party    x:not_party    x:not_party    x:not_party
civil_affairs_registrar  marriage_registration        closed      x:case_closed  x:case_closed  x:case_closed  x:case_closed
civil_affairs_registrar  marriage_registration        no_case     x:no_case      x:no_case      x:no_case      x:no_case
dpo                 audit                             party       0              0              0              0
dpo                 audit                             not_party   0              0              0              0
dpo                 audit                             closed      0              0              0              0
dpo                 audit                             no_case     0              0              0              0
dpo                 erasure                           party       x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference
dpo                 erasure                           not_party   x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference
dpo                 erasure                           closed      x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference
dpo                 erasure                           no_case     x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference
bureau_officer      statistics                        party       0              0              0              0
bureau_officer      statistics                        not_party   0              0              0              0
bureau_officer      statistics                        closed      0              0              0              0
bureau_officer      statistics                        no_case     0              0              0              0
correction_officer  resettlement_handover             party       0              0              0              0
correction_officer  resettlement_handover             not_party   0              0              0              0
correction_officer  resettlement_handover             closed      0              0              0              0
correction_officer  resettlement_handover             no_case     0              0              0              0
dpo                 consent_records                   party       x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference
dpo                 consent_records                   not_party   x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference
dpo                 consent_records                   closed      x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference
dpo                 consent_records                   no_case     x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference  x:needs_oversight_reference
"""
# Every role x purpose pair not in TABLE is denied by default in all 16 states (the integrator has
# no pair at all). Of the *other* parties of a record, every rule reveals basic fields only.

# Event types each allowed pair gets: (by statute, added while the subject's consent is active)
POLICE = {"IncidentReported", "DisputeReferredToMediation"}
DV = {"DomesticViolenceWarningIssued", "ProtectionOrderIssued"}
MEDIATION = {"MediationCaseOpened", "MediationConcluded", "MediationAgreementConfirmed"}
COURT = {"CaseFiled", "DocumentsServed", "HearingHeld", "JudgmentIssued", "EnforcementUpdated"}
MARRIAGE = {"MarriageRegistered", "DivorceRegistered"}
CORRECTIONS = {"CommunityCorrectionStarted", "CommunityCorrectionEnded", "ReleaseNoticeIssued", "ReleasedPrisonerReceived"}
LEGAL_AID = {"LegalAidApplied", "LegalAidGranted"}
EVENTS = {
    ("mediator", "dispute_mediation"): (POLICE | MEDIATION | COURT | MARRIAGE, DV),
    ("judge", "adjudication"): (POLICE | DV | MEDIATION | COURT | MARRIAGE | CORRECTIONS | LEGAL_AID, set()),
    ("court_clerk", "adjudication"): (COURT | MEDIATION, set()),
    ("police_officer", "risk_prevention"): (POLICE | DV | MARRIAGE | CORRECTIONS, MEDIATION),
    ("correction_officer", "community_correction_supervision"): (POLICE | DV | COURT | CORRECTIONS, set()),
    ("legal_aid_officer", "legal_aid_eligibility"): (LEGAL_AID | COURT | MARRIAGE, set()),
    ("civil_affairs_registrar", "marriage_registration"): (MARRIAGE, set()),
    ("dpo", "audit"): ({"AccessAudited"}, set()),
    ("dpo", "erasure"): (POLICE | DV | MEDIATION | COURT | MARRIAGE | CORRECTIONS | LEGAL_AID, set()),
    ("bureau_officer", "statistics"): (set(), set()),   # aggregates only: no record, no field
    ("correction_officer", "resettlement_handover"): (set(), set()),   # the office's hand-over list: numbers, dates
    ("dpo", "consent_records"): (set(), set()),
}
LETTERS = {"B": "basic", "C": "contact", "I": "identifier", "S": "sensitive"}


def _expectations() -> dict[tuple[str, str, str, str], str]:
    rows = [line.split() for line in TABLE.strip().splitlines()[1:]]
    table = {}
    for role, purpose, case_state, *cells in rows:
        assert len(cells) == len(CONSENT_STATES), (role, purpose, case_state)
        for consent_state, cell in zip(CONSENT_STATES, cells, strict=True):
            table[(role, purpose, case_state, consent_state)] = cell
    return table


EXPECTED = _expectations()
ALL = [(r, p, c, s) for r in ROLES for p in PURPOSES for c in CASE_STATES for s in CONSENT_STATES]


def _world(policy, role: str, purpose: str, case_state: str, consent_state: str):
    cases = InMemoryCaseDirectory(policy.case_open_days)
    opening, number_field, closing = PURPOSE_CASE[purpose]
    case_id = f"CASE-{purpose}"
    parties = [SUBJECT, OTHER] if case_state != "not_party" else [OTHER]
    opened = NOW - timedelta(days=400 if case_state == "closed" and closing is None else 10)
    envelope = {"occurred_at": opened, "source": {"office_code": OFFICE}}
    cases.apply_event(opening, {"envelope": envelope, number_field: case_id, "supervising_office": OFFICE,
                                "person_ids": parties})
    if case_state == "closed" and closing is not None:
        cases.apply_event(closing, {"envelope": {"occurred_at": NOW - timedelta(days=1)}, number_field: case_id})
    cases.apply_event("CaseFiled", {"envelope": {"occurred_at": NOW - timedelta(days=1)}, "case_number": "X"})
    consents = ConsentStore()
    if consent_state != "none":
        valid_until = NOW - timedelta(hours=1) if consent_state == "expired" else NOW + timedelta(days=30)
        consents.apply_event("ConsentGranted", {
            "consent_id": "C-1", "subject": SUBJECT, "grantee_role": role, "grantee_organisation": "*",
            "purpose": purpose, "field_classes": list(FIELD_CLASSES), "valid_from": NOW - timedelta(days=5),
            "valid_until": valid_until})
    if consent_state == "withdrawn":
        consents.apply_event("ConsentWithdrawn", {"consent_id": "C-1", "subject": SUBJECT,
                                                  "envelope": {"occurred_at": NOW - timedelta(days=2)}})
    request = AccessRequest(user=f"{role}-1", role=role, organisation="org-1", purpose=purpose,
                            case_id=None if case_state == "no_case" else case_id, subject=SUBJECT,
                            offices=(OFFICE,))
    return request, cases, consents


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def protector(tmp_path_factory):
    store = LocalKeystore.create(tmp_path_factory.mktemp("keys") / "keystore.db", os.urandom(32))
    return Protector(store)


@pytest.fixture(scope="module")
def protected_sample(protector):
    """A MediationCaseOpened with two parties, protected with real keys: every pii class occurs."""
    schema = loader.get("MediationCaseOpened").expanded
    party = {"role": "mediation_party", "name": "王小明", "id_type": "resident_id",
             "id_number": "11010519491231002X", "date_of_birth": "1949-12-31", "gender": "male",
             "phone": "13800138000", "address": "某县某镇某村1号", "agency_person_id": None, "is_minor": False,
             "protection": None}
    record = {"envelope": {"event_id": "E-1", "event_type": "MediationCaseOpened"},
              "mediation_case_number": "M-1", "level": "village", "committee": "某村调委会", "source": None,
              "dispute_type": "neighbour", "summary": "邻里纠纷", "parties": [party, dict(party, name="李四")]}
    protected = protector.protect(record, schema, "E-1", "justice")
    return schema, protected, record


def test_table_covers_exactly_the_policy_rules(policy):
    listed = {(r, p) for r, p, _, _ in EXPECTED}
    assert listed == set(policy.rules) == set(EVENTS)
    assert set(policy.roles) == set(ROLES) and set(policy.purposes) == set(PURPOSES)


@pytest.mark.parametrize("role,purpose,case_state,consent_state", ALL,
                         ids=["-".join(combo) for combo in ALL])
def test_decision(policy, protector, protected_sample, role, purpose, case_state, consent_state):
    request, cases, consents = _world(policy, role, purpose, case_state, consent_state)
    decision = decide(request, policy, cases, consents, NOW)
    cell = EXPECTED.get((role, purpose, case_state, consent_state), "x:no_rule")

    if cell.startswith("x:"):
        assert not decision.allowed and decision.status == 403
        assert decision.reason == cell[2:]
        assert decision.rule == (DEFAULT_DENY if cell == "x:no_rule" else f"{role}.{purpose}")
        assert decision.event_types == frozenset() and decision.field_classes == frozenset()
        assert decision.refused_field_classes == frozenset(FIELD_CLASSES)
        offered = set().union(*EVENTS[(role, purpose)]) if (role, purpose) in EVENTS else set()
        assert decision.refused_event_types == offered
        return

    classes = frozenset() if cell.rstrip("+") == "0" else frozenset(LETTERS[c] for c in cell.rstrip("+").split("."))
    statute_events, consent_events = EVENTS[(role, purpose)]
    assert decision.allowed and decision.status == 200 and decision.rule == f"{role}.{purpose}"
    assert decision.field_classes == classes
    assert decision.other_party_classes == classes & {"basic"}
    assert decision.event_types == (statute_events | consent_events if cell.endswith("+") else statute_events)
    assert decision.refused_event_types == (set() if cell.endswith("+") else consent_events - statute_events)
    assert decision.legal_basis
    assert ("consent" in decision.legal_basis) == (consent_state == "granted" and bool(classes)
                                                   and (cell.endswith("+") or role == "legal_aid_officer"))

    # every masked field: exactly the fields of a refused class are masked
    schema, protected, plain = protected_sample
    revealed = protector.reveal(protected, schema, "E-1", decision.field_classes)
    party_classes = {"name": "identifier", "id_number": "identifier", "date_of_birth": "identifier",
                     "gender": "basic", "is_minor": "basic", "phone": "contact", "address": "contact"}
    for index, party in enumerate(revealed["parties"]):
        for name, pii_class in party_classes.items():
            expected = plain["parties"][index][name] if pii_class in classes else MASK_PREFIX + pii_class
            assert party[name] == expected, (name, pii_class)
    assert revealed["summary"] == (plain["summary"] if "sensitive" in classes else MASK_PREFIX + "sensitive")
    assert revealed["mediation_case_number"] == "M-1"  # untagged: goes with the event type


def test_policy_event_types_exist_in_the_schemas(policy):
    assert policy.event_types <= set(loader.event_types())
    load_policy(known_event_types=set(loader.event_types()))  # validates every name
