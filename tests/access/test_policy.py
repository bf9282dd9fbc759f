"""Policy loading and validation (errors name the line), purpose binding edge cases,
break-glass, consents as events, and restricted visibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consent.access.cases import InMemoryCaseDirectory
from consent.access.consents import ConsentStore
from consent.access.decisions import AccessRequest, BreakGlassLedger, decide
from consent.access.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy, parse_policy
from consent.access.restrictions import RestrictionStore
from runtime.tomlcheck import locate_keys

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TEXT = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
REASON = "Imminent risk of violence reported by the victim tonight"


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


# --- validation: (text to change, replacement, words of the message, the reported line's text,
# and which occurrence of that text when it repeats: -1 = the last) ---------------------------
BAD_POLICIES = [
    ('field_classes = ["basic", "contact"]', 'field_classes = ["basic", "contakt"]',
     "unknown field class 'contakt'", '"contakt"', 0),
    ('binding = "supervised_person"', 'bindng = "supervised_person"', "unknown key 'bindng'", "bindng", 0),
    ('"@legal_aid", "@court_proceedings"', '"@legal_aidd", "@court_proceedings"',
     "unknown event group '@legal_aidd'", "@legal_aidd", 0),
    ("max_per_user = 5", "max_per_user = 0", "max_per_user: expected an integer >= 1", "max_per_user", 0),
    ('role = "dpo"', 'role = "dpoo"', "unknown role 'dpoo'", "dpoo", 0),
    ('purpose = "risk_prevention"', 'purpose = "risk_prevent"', "unknown purpose 'risk_prevent'",
     "risk_prevent\"", 0),
    ('legal_basis = "consent"', 'legal_basis = "because"', "expected 'consent' or 'statute: <law>'", "because", 0),
    ('case_kinds = ["legal_aid"]', 'case_kinds = ["legal_ayd"]', "unknown case kind 'legal_ayd'", "legal_ayd", 0),
    ('juvenile_sealed = ["judge"]', 'juvenile_sealed = ["jduge"]', "unknown role 'jduge'", "jduge", 0),
    ('binding = "none"', 'binding = "party_in_open_case"', "binding 'party_in_open_case' needs case kinds",
     "case_kinds = []", 0),
    ('field_classes = []', 'field_classes = ["basic"]', "a rule without case binding may not grant person fields",
     'field_classes = ["basic"]', -1),
    ('id = "court_clerk.adjudication"', 'id = "judge.adjudication"', "duplicate rule id",
     'id = "judge.adjudication"', -1),
    ('role = "court_clerk"', 'role = "judge"', "second rule for judge x adjudication (first is",
     'purpose = "adjudication"', -1),
    ("version = 1", "version = 1\nversion = 2", "not valid TOML", "version = 2", 0),
]


@pytest.mark.parametrize("old,new,message,line_text,occurrence", BAD_POLICIES, ids=[b[2] for b in BAD_POLICIES])
def test_policy_error_names_the_line(old, new, message, line_text, occurrence):
    assert old in TEXT
    bad = TEXT.replace(old, new, 1)
    with pytest.raises(PolicyError) as caught:
        parse_policy(bad, source="policy.toml")
    error = caught.value
    assert message in str(error)
    assert str(error).startswith(f"policy.toml:{error.line}: ")
    candidates = [n for n, line in enumerate(bad.splitlines(), 1) if line_text in line]
    assert error.line == candidates[occurrence], (str(error), candidates)


def test_unknown_event_type_against_the_schema_names():
    bad = TEXT.replace('"IncidentReported", ', '"IncidentReportedd", ', 1)
    with pytest.raises(PolicyError, match="unknown event type 'IncidentReportedd'") as caught:
        parse_policy(bad, source="p.toml", known_event_types={"IncidentReported"})
    assert caught.value.line == _line_of(bad, "IncidentReportedd")


def test_missing_policy_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "nope.toml")


def test_locate_keys_handles_arrays_of_tables_and_multiline_values():
    lines = locate_keys('a = 1\n[[rule]]\nid = "x"\nlist = [\n  "y = 1",\n]\n[rule.sub]\nk = 2\n[[rule]]\nid = "z"\n')
    assert lines[("a",)] == 1 and lines[("rule", 0, "id")] == 3 and lines[("rule", 0, "list")] == 4
    assert ("y",) not in lines and lines[("rule", 0, "sub", "k")] == 8 and lines[("rule", 1, "id")] == 10


# --- purpose binding beyond the table ----------------------------------------------------

@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _cases(kind_event: str, number_field: str, case_id: str, parties: list[str], office: str = "office-a"):
    cases = InMemoryCaseDirectory()
    cases.apply_event(kind_event, {number_field: case_id, "supervising_office": office, "person_ids": parties,
                                   "envelope": {"occurred_at": NOW - timedelta(days=3)}})
    return cases


def test_mediator_cannot_use_a_court_case(policy):
    cases = _cases("CaseFiled", "case_number", "(2026)X民初1号", ["P1"])
    request = AccessRequest("m", "mediator", "org", "dispute_mediation", "(2026)X民初1号", "P1")
    assert decide(request, policy, cases, ConsentStore(), NOW).reason == "wrong_case_kind"


def test_unknown_case_is_refused(policy):
    request = AccessRequest("m", "mediator", "org", "dispute_mediation", "M-404", "P1")
    assert decide(request, policy, InMemoryCaseDirectory(), ConsentStore(), NOW).reason == "case_not_found"


def test_a_case_number_as_people_type_it_finds_the_case_as_the_agency_wrote_it(policy):
    written = "（2025）城关调字第2号"
    cases = _cases("MediationCaseOpened", "mediation_case_number", written, ["P1"])
    for typed in ("(2025)城关调字第2号", "〔2025〕城关调字第2号", "【2025】城关调字第2号", "（２０２５）城关调字第２号",
                  " (2025) 城关调字第2号 "):
        assert cases.case(typed).case_id == written and cases.is_party(typed, "P1")
        request = AccessRequest("m", "mediator", "org", "dispute_mediation", typed, "P1")
        assert decide(request, policy, cases, ConsentStore(), NOW).allowed
    assert cases.case("(2025)城关调字第20号") is None and cases.case("(2024)城关调字第2号") is None
    other = "(2025)城关调字第2号"  # an agency wrote the other form for another case: never a guess between them
    cases.apply_event("MediationCaseOpened", {"mediation_case_number": other, "person_ids": ["P2"],
                                              "envelope": {"occurred_at": NOW - timedelta(days=2)}})
    assert cases.case("〔2025〕城关调字第2号") is None
    assert cases.case(other).case_id == other and cases.case(written).case_id == written


def test_correction_officer_only_for_people_their_office_supervises(policy):
    cases = _cases("CommunityCorrectionStarted", "correction_number", "CC-1", ["P1"], office="office-a")
    mine = AccessRequest("c", "correction_officer", "justice:x", "community_correction_supervision", "CC-1", "P1",
                         offices=("office-a",))
    theirs = AccessRequest("c", "correction_officer", "justice:x", "community_correction_supervision", "CC-1",
                           "P1", offices=("office-b",))
    assert decide(mine, policy, cases, ConsentStore(), NOW).allowed
    assert decide(theirs, policy, cases, ConsentStore(), NOW).reason == "not_supervising_office"


def test_released_prisoner_handover_binds_the_receiving_office(policy):
    cases = InMemoryCaseDirectory()
    cases.apply_event("ReleasedPrisonerReceived", {"handover_number": "H-1", "person_ids": ["P9"],
                                                   "envelope": {"source": {"office_code": "office-a"}}})
    request = AccessRequest("c", "correction_officer", "justice:x", "community_correction_supervision", "H-1",
                            "P9", offices=("office-a",))
    assert decide(request, policy, cases, ConsentStore(), NOW).allowed


def test_parties_linked_later_and_merged_persons(policy):
    cases = _cases("MediationCaseOpened", "mediation_case_number", "M-1", [])
    request = AccessRequest("m", "mediator", "org", "dispute_mediation", "M-1", "P-new")
    assert decide(request, policy, cases, ConsentStore(), NOW).reason == "not_party"
    cases.add_party("M-1", "P-old")
    cases.apply_event("PersonsMerged", {"retired_person_id": "P-old", "surviving_person_id": "P-new"})
    assert decide(request, policy, cases, ConsentStore(), NOW).allowed


def test_late_replayed_opening_does_not_reopen_a_closed_case():
    cases = InMemoryCaseDirectory()
    cases.apply_event("MediationConcluded", {"mediation_case_number": "M-1",
                                             "envelope": {"occurred_at": NOW - timedelta(days=1)}})
    cases.apply_event("MediationCaseOpened", {"mediation_case_number": "M-1", "person_ids": ["P1"],
                                              "envelope": {"occurred_at": NOW - timedelta(days=9)}})
    assert cases.open_case("M-1") is None and cases.is_party("M-1", "P1")


def test_legal_aid_refused_closes_the_case():
    cases = _cases("LegalAidApplied", "aid_number", "LA-1", ["P1"])
    cases.apply_event("LegalAidGranted", {"aid_number": "LA-1", "granted": False})
    assert cases.open_case("LA-1") is None


def test_unknown_role_and_purpose_are_denied(policy):
    cases = _cases("MediationCaseOpened", "mediation_case_number", "M-1", ["P1"])
    for role, purpose, reason in [("admin", "dispute_mediation", "unknown_role"),
                                  ("mediator", "curiosity", "unknown_purpose"),
                                  ("integrator", "dispute_mediation", "no_rule")]:
        decision = decide(AccessRequest("u", role, "o", purpose, "M-1", "P1"), policy, cases, ConsentStore(), NOW)
        assert not decision.allowed and decision.reason == reason and decision.rule == "default_deny"


# --- break-glass -------------------------------------------------------------------------

def test_break_glass_for_judge_overrides_the_case_binding_and_is_flagged(policy):
    ledger = BreakGlassLedger()
    request = AccessRequest("j", "judge", "court", "adjudication", None, "P1", break_glass_reason=REASON)
    decision = decide(request, policy, InMemoryCaseDirectory(), ConsentStore(), NOW, break_glass=ledger)
    assert decision.allowed and decision.break_glass and "notify_dpo" in decision.flags
    assert decision.reason == "break_glass_over_no_case" and decision.legal_basis.startswith("break-glass")
    assert decision.field_classes == policy.rule_for("judge", "adjudication").field_classes
    assert ledger.count("j", NOW, timedelta(hours=24)) == 1


@pytest.mark.parametrize("role,purpose,reason,why", [
    ("mediator", "dispute_mediation", REASON, "break_glass_role_not_permitted"),
    ("correction_officer", "community_correction_supervision", REASON, "break_glass_role_not_permitted"),
    ("police_officer", "risk_prevention", "urgent", "break_glass_reason_too_short"),
    ("judge", "dispute_mediation", REASON, "no_rule"),  # break-glass never creates a role x purpose grant
])
def test_break_glass_refusals_are_flagged(policy, role, purpose, reason, why):
    request = AccessRequest("u", role, "org", purpose, None, "P1", break_glass_reason=reason)
    decision = decide(request, policy, InMemoryCaseDirectory(), ConsentStore(), NOW, break_glass=BreakGlassLedger())
    assert not decision.allowed and decision.reason == why and "break_glass_refused" in decision.flags


def test_break_glass_without_ledger_is_refused(policy):
    request = AccessRequest("p", "police_officer", "police", "risk_prevention", None, "P1", break_glass_reason=REASON)
    assert decide(request, policy, InMemoryCaseDirectory(), ConsentStore(), NOW).reason == "break_glass_unavailable"


def test_break_glass_rate_limit_five_per_user_per_24h(policy):
    ledger = BreakGlassLedger()
    cases, consents = InMemoryCaseDirectory(), ConsentStore()

    def attempt(user: str, at: datetime):
        request = AccessRequest(user, "police_officer", "police", "risk_prevention", None, "P1",
                                break_glass_reason=REASON)
        return decide(request, policy, cases, consents, at, break_glass=ledger)

    uses = [attempt("p1", NOW + timedelta(hours=i)) for i in range(5)]
    assert all(d.allowed for d in uses)
    sixth = attempt("p1", NOW + timedelta(hours=6))
    assert not sixth.allowed and sixth.reason == "break_glass_rate_limited" and "notify_dpo" in sixth.flags
    assert attempt("p2", NOW + timedelta(hours=6)).allowed  # per user
    assert attempt("p1", NOW + timedelta(hours=24, minutes=1)).allowed  # the first use left the window
    rebuilt = BreakGlassLedger.from_uses([("p1", NOW + timedelta(hours=i)) for i in range(5)])
    assert rebuilt.count("p1", NOW + timedelta(hours=5), timedelta(hours=24)) == 5


def test_normal_access_does_not_consume_break_glass(policy):
    ledger = BreakGlassLedger()
    cases = _cases("CaseFiled", "case_number", "C-1", ["P1"])
    request = AccessRequest("j", "judge", "court", "adjudication", "C-1", "P1", break_glass_reason=REASON)
    decision = decide(request, policy, cases, ConsentStore(), NOW, break_glass=ledger)
    assert decision.allowed and not decision.break_glass and ledger.count("j", NOW, timedelta(hours=24)) == 0


# --- consents ----------------------------------------------------------------------------

def _grant(store: ConsentStore, consent_id: str = "C-1", **over) -> None:
    fields = {"consent_id": consent_id, "subject": "P1", "grantee_role": "mediator", "grantee_organisation": "*",
              "purpose": "dispute_mediation", "field_classes": ["sensitive"],
              "valid_from": int((NOW - timedelta(days=1)).timestamp() * 1000), "valid_until": None}
    store.apply_event("ConsentGranted", fields | over)


def test_consent_scope_limits_the_extra_classes(policy):
    cases = _cases("MediationCaseOpened", "mediation_case_number", "M-1", ["P1"])
    consents = ConsentStore()
    _grant(consents)  # sensitive only, not identifier
    decision = decide(AccessRequest("m", "mediator", "org", "dispute_mediation", "M-1", "P1"), policy, cases,
                      consents, NOW)
    assert decision.field_classes == {"basic", "contact", "sensitive"} and decision.consent_id == "C-1"


def test_consent_for_another_role_organisation_or_purpose_does_not_count():
    consents = ConsentStore()
    _grant(consents, "C-1", grantee_role="judge")
    _grant(consents, "C-2", grantee_organisation="justice:other")
    _grant(consents, "C-3", purpose="legal_aid_eligibility")
    assert consents.active("P1", "mediator", "justice:mine", "dispute_mediation", NOW) is None
    assert consents.active("P1", "mediator", "justice:other", "dispute_mediation", NOW).consent_id == "C-2"


def test_withdrawal_takes_effect_for_the_next_request_through_the_feed(policy):
    pending: list[tuple[str, dict]] = []

    def feed():
        drained = list(pending)
        pending.clear()
        return drained

    cases = _cases("MediationCaseOpened", "mediation_case_number", "M-1", ["P1"])
    consents = ConsentStore(feed=feed)
    _grant(consents)
    request = AccessRequest("m", "mediator", "org", "dispute_mediation", "M-1", "P1")
    assert "sensitive" in decide(request, policy, cases, consents, NOW).field_classes
    # withdrawn "in the future" by a skewed clock: still final at once
    pending.append(("ConsentWithdrawn", {"consent_id": "C-1", "subject": "P1",
                                         "envelope": {"occurred_at": NOW + timedelta(hours=1)}}))
    assert "sensitive" not in decide(request, policy, cases, consents, NOW).field_classes
    history = consents.history("P1")
    assert [c.consent_id for c in history] == ["C-1"] and history[0].withdrawn_at is not None


def test_expiry_boundary_and_not_yet_valid():
    consents = ConsentStore()
    _grant(consents, valid_from=NOW + timedelta(hours=1), valid_until=NOW + timedelta(hours=2))
    assert consents.active("P1", "mediator", "o", "dispute_mediation", NOW) is None
    assert consents.active("P1", "mediator", "o", "dispute_mediation", NOW + timedelta(hours=1)) is not None
    assert consents.active("P1", "mediator", "o", "dispute_mediation", NOW + timedelta(hours=2)) is None


def test_replayed_withdrawal_before_grant_and_regrant_never_revive():
    consents = ConsentStore()
    consents.apply_event("ConsentWithdrawn", {"consent_id": "C-1", "subject": "P1"})
    _grant(consents)
    assert consents.active("P1", "mediator", "o", "dispute_mediation", NOW) is None
    _grant(consents)  # the grant replayed again
    assert consents.active("P1", "mediator", "o", "dispute_mediation", NOW) is None
    _grant(consents, "C-2")  # a new consent is a new id
    assert consents.active("P1", "mediator", "o", "dispute_mediation", NOW).consent_id == "C-2"


def test_bad_consent_event_names_the_field():
    with pytest.raises(ValueError, match="ConsentGranted C-9: field 'valid_from'"):
        ConsentStore().apply_event("ConsentGranted", {"consent_id": "C-9", "subject": "P1", "purpose": "x",
                                                      "valid_from": "yesterday"})


# --- restricted visibility ---------------------------------------------------------------

def _event(event_id: str, key: str, version: int = 1, restriction: dict | None = None, agency: str = "court"):
    return {"envelope": {"event_id": event_id, "source_record_key": key, "source_record_version": version,
                         "source": {"agency": agency}, "restriction": restriction}}


def test_juvenile_case_hides_every_record_of_the_case_until_it_lifts(policy):
    store = RestrictionStore()
    sealed = {"kind": "juvenile_sealed", "until": NOW + timedelta(days=30)}
    store.apply_event("CaseFiled", _event("E1", "(2026)少1号#filed", restriction=sealed) | {"case_number": "J-1"})
    store.apply_event("HearingHeld", _event("E2", "(2026)少1号#hearing") | {"case_number": "J-1"})
    store.apply_event("CaseFiled", _event("E3", "(2026)民2号#filed") | {"case_number": "C-2"})
    judge, mediator = policy.visible_restrictions("judge"), policy.visible_restrictions("mediator")
    assert store.restriction_for("E2", None, NOW) == "juvenile_sealed"
    assert store.visible("E1", None, judge, NOW) and store.visible("E2", None, judge, NOW)
    assert not store.visible("E1", None, mediator, NOW) and not store.visible("E2", None, mediator, NOW)
    assert store.visible("E3", None, mediator, NOW)
    assert store.hides_access("J-1", [], NOW) and not store.hides_access("C-2", ["E3"], NOW)
    later = NOW + timedelta(days=31)
    assert store.visible("E2", None, mediator, later) and not store.hides_access("J-1", ["E2"], later)


def test_investigation_lifts_with_a_newer_version_or_an_event(policy):
    store = RestrictionStore()
    covert = {"kind": "ongoing_investigation", "until": None}
    store.apply_event("IncidentReported", _event("E1", "110-9", 1, covert, "police") | {"incident_number": "I-9"})
    police, judge = policy.visible_restrictions("police_officer"), policy.visible_restrictions("judge")
    assert store.visible("E1", None, police, NOW) and not store.visible("E1", None, judge, NOW)
    store.apply_event("IncidentReported", _event("E1b", "110-9", 1, None, "police") | {"incident_number": "I-9"})
    assert not store.visible("E1", None, judge, NOW)  # same version: no lift
    store.apply_event("IncidentReported", _event("E1c", "110-9", 2, None, "police") | {"incident_number": "I-9"})
    assert store.visible("E1", None, judge, NOW) and store.visible("E1c", None, judge, NOW)
    store.apply_event("IncidentReported", _event("E5", "110-10", 1, covert, "police") | {"incident_number": "I-10"})
    store.apply_event("RestrictionLifted", {"case_id": "I-10"})
    assert store.visible("E5", None, judge, NOW)


def test_decision_carries_the_visible_restriction_kinds(policy):
    cases = _cases("CaseFiled", "case_number", "C-1", ["P1"])
    decision = decide(AccessRequest("j", "judge", "court", "adjudication", "C-1", "P1"), policy, cases,
                      ConsentStore(), NOW)
    assert decision.visible_restrictions == {"juvenile_sealed", "other"}


def test_withdrawal_on_the_log_is_honoured_by_the_next_decision(policy, tmp_path):
    import json

    from consent.access.consents import consumer_feed
    from runtime.eventlog.embedded import EmbeddedEventLog

    cases = _cases("MediationCaseOpened", "mediation_case_number", "M-1", ["P1"])
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        log.create_topic("consents", 1)
        consumer = log.consumer("consent-store", ["consents"])
        consents = ConsentStore(feed=consumer_feed(consumer, lambda r: tuple(json.loads(r.value))))

        def publish(event_type: str, fields: dict) -> None:
            log.append("consents", json.dumps([event_type, fields]).encode(), key=b"P1")

        request = AccessRequest("m", "mediator", "org", "dispute_mediation", "M-1", "P1")
        publish("ConsentGranted", {"consent_id": "C-1", "subject": "P1", "grantee_role": "mediator",
                                   "purpose": "dispute_mediation", "field_classes": ["sensitive"],
                                   "valid_from": int((NOW - timedelta(days=1)).timestamp() * 1000)})
        assert "sensitive" in decide(request, policy, cases, consents, NOW).field_classes
        publish("ConsentWithdrawn", {"consent_id": "C-1", "subject": "P1"})
        assert "sensitive" not in decide(request, policy, cases, consents, NOW).field_classes
        consumer.close()


def test_the_policy_documentation_holds_the_policys_matrix() -> None:
    from pathlib import Path

    from consent.access.policy import DEFAULT_POLICY_PATH, matrix_markdown

    doc = (Path(DEFAULT_POLICY_PATH).parent / "POLICY.md").read_text(encoding="utf-8")
    documented = doc.split("<!-- policy-matrix:start -->\n")[1].split("<!-- policy-matrix:end -->")[0]
    assert documented == matrix_markdown(load_policy()), "POLICY.md is out of date: paste matrix_markdown(load_policy())"


# --- cases that close without a closing event; stations see their own incidents ----------------------

def _incident(cases: InMemoryCaseDirectory, number: str, station: str, at: datetime, person: str) -> None:
    cases.apply_event("IncidentReported", {"incident_number": number, "person_ids": [person],
                                           "envelope": {"occurred_at": at, "source": {"office_code": station,
                                                                                       "office_name": "城关派出所"}}})


def test_an_incident_closes_on_referral_and_by_age_on_the_event_clock() -> None:
    policy = load_policy()
    cases = InMemoryCaseDirectory(policy.case_open_days)
    _incident(cases, "J411730010000202501010001", "411730010000", NOW - timedelta(days=200), "P-a")
    _incident(cases, "J411730010000202505200001", "411730010000", NOW - timedelta(days=10), "P-b")
    _incident(cases, "J411730010000202505250001", "411730010000", NOW - timedelta(days=5), "P-c")
    cases.apply_event("DisputeReferredToMediation", {"incident_number": "J411730010000202505250001",
                                                     "envelope": {"occurred_at": NOW - timedelta(days=4)}})
    old, recent, referred = (cases.case(n) for n in ("J411730010000202501010001", "J411730010000202505200001",
                                                     "J411730010000202505250001"))
    assert not old.is_open and old.closed_at == old.opened_at + timedelta(days=90)
    assert recent.is_open and not referred.is_open
    # the clock is the newest event, not the wall clock: a replay of old data gives the same answer
    assert cases.clock == NOW - timedelta(days=4)


def test_a_station_sees_only_its_own_incidents() -> None:
    policy = load_policy()
    cases = InMemoryCaseDirectory(policy.case_open_days)
    _incident(cases, "J411730020000202505200001", "411730020000", NOW - timedelta(days=3), "P-a")
    request = AccessRequest("police.a", "police_officer", "police:城关派出所", "risk_prevention",
                            "J411730020000202505200001", "P-a", offices=("411730010000",))
    assert decide(request, policy, cases, ConsentStore(), NOW).reason == "other_office"
    own = AccessRequest("police.b", "police_officer", "police:李店派出所", "risk_prevention",
                        "J411730020000202505200001", "P-a", offices=("411730020000",))
    assert decide(own, policy, cases, ConsentStore(), NOW).allowed


def test_a_registration_is_open_to_the_registrar_for_a_year() -> None:
    policy = load_policy()
    cases = InMemoryCaseDirectory(policy.case_open_days)
    cases.apply_event("DivorceRegistered", {"registration_number": "L411730-2025-000100", "person_ids": ["P-a"],
                                            "envelope": {"occurred_at": NOW - timedelta(days=20)}})
    request = AccessRequest("registrar", "civil_affairs_registrar", "civil_affairs:清源县民政局", "marriage_registration",
                            "L411730-2025-000100", "P-a")
    decision = decide(request, policy, cases, ConsentStore(), NOW)
    assert decision.allowed and decision.event_types == {"MarriageRegistered", "DivorceRegistered"}
    assert decision.field_classes == {"basic", "identifier"} and decision.other_party_classes == {"basic"}
    cases.apply_event("CaseFiled", {"case_number": "x", "envelope": {"occurred_at": NOW + timedelta(days=346)}})
    assert decide(request, policy, cases, ConsentStore(), NOW).reason == "case_closed"
