"""The dispute processor: explicit references, inference, merges, join-only events, idempotency."""

from __future__ import annotations

import copy
import hashlib

from schemas import models
from streams.disputes import DisputeProcessor, thread_of, timeline
from streams.processor import DISPUTES_TOPIC, DictState, Event, Output
from tests.streams.test_disputes_builders import make, ref

A, B, C, B2 = "P-a", "P-b", "P-c", "P-b2"


def run(events: list[tuple[Event, list[str | None]]], state: DictState | None = None,
        proc: DisputeProcessor | None = None) -> tuple[DictState, list[Output]]:
    state = state or DictState()
    proc = proc or DisputeProcessor()
    outputs: list[Output] = []
    for event, persons in events:
        outputs += proc.handle_resolved(event, persons, state)
    return state, outputs


def neighbour_story() -> list[tuple[Event, list[str | None]]]:
    """Police incident -> referral -> mediation (names the incident) -> failure -> lawsuit (no
    reference, 60 days later) -> service, hearing, judgment -> enforcement (names the case)."""
    return [
        (make("IncidentReported", "J1", 0, incident_number="J1"), [A, B]),
        (make("DisputeReferredToMediation", "R1", 0.5, referral_number="R1", incident_number="J1"), [A, B]),
        (make("MediationCaseOpened", "M1", 2, mediation_case_number="M1",
              related=[ref("police", "incident", "J1", "referred_from")]), [A, B]),
        (make("MediationConcluded", "M1/end", 20, mediation_case_number="M1", outcome="failed"), [A, B]),
        (make("CaseFiled", "C1/filed", 80, case_number="C1"), [A, B]),
        (make("DocumentsServed", "C1/served", 90, case_number="C1"), [A, B]),
        (make("HearingHeld", "C1/heard", 120, case_number="C1"), [A, B]),
        (make("JudgmentIssued", "C1/judged", 150, case_number="C1"), [A, B]),
        (make("CaseFiled", "E1/filed", 200, case_number="E1", case_type="enforcement",
              related=[ref("court", "court_case", "C1", "enforces")]), [A, B]),
        (make("EnforcementUpdated", "E1/upd", 260, case_number="E1", original_case_number="C1"), [A, B]),
    ]


def test_a_dispute_across_three_agencies_is_one_thread_with_its_stages() -> None:
    events = neighbour_story()
    state, outputs = run(events)
    first = events[0][0].event_id
    dispute_id = "D" + hashlib.sha256(first.encode()).hexdigest()[:16]
    assert {thread_of(e.event_id, state) for e, _ in events} == {dispute_id}
    stages = [stage for _, stage, _, _ in timeline(dispute_id, state)]
    assert stages == ["incident", "referral", "mediation", "mediation_outcome", "court_filing", "service",
                      "hearing", "judgment", "enforcement", "enforcement"]
    assert [a for _, _, a, _ in timeline(dispute_id, state)][:3] == ["police", "police", "justice"]
    methods = [o.record["method"] for o in outputs]
    assert methods == ["new_thread", "explicit_reference", "explicit_reference", "explicit_reference",
                       "inferred", "explicit_reference", "explicit_reference", "explicit_reference",
                       "explicit_reference", "explicit_reference"]
    for out in outputs:
        assert out.topic == DISPUTES_TOPIC and out.key == dispute_id
        assert models.validate("DisputeThreaded", out.record) == out.record
        assert out.record["dispute_type"] == "neighbour"
        assert out.record["envelope"]["source"]["agency"] == "hub"
    assert "2 resolved parties" in outputs[4].record["evidence"]


def test_handling_an_event_twice_changes_nothing_and_repeats_the_same_decision() -> None:
    events = neighbour_story()
    state, outputs = run(events)
    before = copy.deepcopy(state.tables)
    proc = DisputeProcessor()
    again = [o for e, p in events for o in proc.handle_resolved(e, p, state)]
    assert state.tables == before
    assert [o.record for o in again] == [o.record for o in outputs]


def test_a_replay_gives_the_same_outputs() -> None:
    _, first = run(neighbour_story())
    _, second = run(neighbour_story())
    assert [o.record for o in first] == [o.record for o in second]
    assert len({o.record["envelope"]["event_id"] for o in first}) == len(first)


def test_inference_needs_compatible_type_window_and_enough_shared_parties() -> None:
    state, _ = run([(make("MediationCaseOpened", "M1", 0, mediation_case_number="M1"), [A, B])])
    base = thread_of(make("MediationCaseOpened", "M1", 0, mediation_case_number="M1").event_id, state)
    cases = {
        "other type": (make("CaseFiled", "C1", 30, case_number="C1", cause_of_action="private_lending"), [A, B]),
        "too late": (make("CaseFiled", "C2", 400, case_number="C2"), [A, B]),
        "other counterparty": (make("CaseFiled", "C3", 30, case_number="C3"), [A, C]),
        "related type": (make("CaseFiled", "C4", 30, case_number="C4", cause_of_action="land_homestead"), [A, B]),
        "one resolved party": (make("CaseFiled", "C5", 30, case_number="C5"), [A, None]),
    }
    proc = DisputeProcessor()
    placed = {}
    for name, (event, persons) in cases.items():
        trial = copy.deepcopy(state)
        proc.handle_resolved(event, persons, trial)
        placed[name] = thread_of(event.event_id, trial) == base
    assert placed == {"other type": False, "too late": False, "other counterparty": False,
                      "related type": True, "one resolved party": True}


def test_a_couples_family_troubles_stay_one_thread_for_years() -> None:
    state, _ = run([
        (make("IncidentReported", "J1", 0, incident_number="J1", category="domestic_violence", dispute_type=None),
         [B, A]),
        (make("DomesticViolenceWarningIssued", "W1", 1, warning_number="W1", incident_number="J1"), [A, B]),
        (make("IncidentReported", "J2", 700, incident_number="J2", category="domestic_violence",
              dispute_type=None), [B, A]),
        (make("ProtectionOrderIssued", "PO1", 702, case_number="PO1"), [B, A]),
        (make("IncidentReported", "J3", 710, incident_number="J3", category="domestic_violence",
              dispute_type=None), [C, A]),
    ])
    threads = {thread_of(make("IncidentReported", k, 0, incident_number=k).event_id, state) for k in ("J1", "J2")}
    assert len(threads) == 1
    assert thread_of(make("IncidentReported", "J3", 0, incident_number="J3").event_id, state) not in threads


def test_numbers_that_name_two_threads_merge_them_and_the_older_survives() -> None:
    confirmation = make("MediationAgreementConfirmed", "K1", 50, case_number="K1", mediation_case_number="M1")
    opened = make("MediationCaseOpened", "M1", 10, mediation_case_number="M1",
                  related=[ref("police", "incident", "J1")])
    incident = make("IncidentReported", "J1", 0, incident_number="J1")
    # the court's export arrives first, then police, then the mediation case that links both
    state, outputs = run([(confirmation, [A, B]), (incident, [None, None]), (opened, [A, B])])
    survivor = thread_of(incident.event_id, state)
    assert {thread_of(e.event_id, state) for e in (confirmation, incident, opened)} == {survivor}
    merged = [o for o in outputs if o.record["method"] == "merged"]
    assert [o.record["event_ref"] for o in merged] == [confirmation.event_id]
    assert merged[0].record["merged_into"] == survivor and merged[0].record["dispute_id"] != survivor
    assert merged[0].key == survivor
    assert [s for _, s, _, _ in timeline(survivor, state)] == ["incident", "mediation", "confirmation"]
    for out in outputs:
        models.validate("DisputeThreaded", out.record)


def test_join_only_events_wait_for_their_sentence_and_registrations_are_ignored() -> None:
    ended = make("CommunityCorrectionEnded", "K1/end", 400, n_parties=1, correction_number="K1")
    started = make("CommunityCorrectionStarted", "K1", 40, n_parties=1, correction_number="K1",
                   judgment_case_number="C1")
    filed = make("CaseFiled", "C1", 0, case_number="C1", case_type="criminal", cause_of_action="damages")
    marriage = make("MarriageRegistered", "G1", 0, registration_number="G1")
    lone = make("ReleasedPrisonerReceived", "H1", 0, n_parties=1, handover_number="H1")
    state, outputs = run([(ended, [A]), (started, [A]), (marriage, [A, B]), (lone, [C])])
    assert outputs == [] and thread_of(started.event_id, state) is None
    state, outputs = run([(filed, [A, B])], state)
    dispute_id = thread_of(filed.event_id, state)
    assert [o.record["event_ref"] for o in outputs] == [filed.event_id, started.event_id, ended.event_id]
    assert thread_of(ended.event_id, state) == dispute_id
    assert thread_of(marriage.event_id, state) is None and thread_of(lone.event_id, state) is None


def test_legal_aid_joins_the_applicants_wage_dispute_and_the_lawsuit_follows() -> None:
    incident = make("IncidentReported", "J1", 0, n_parties=3, incident_number="J1", category="wage_arrears",
                    dispute_type="labour_wages")
    aid = make("LegalAidApplied", "A1", 10, aid_number="A1")
    granted = make("LegalAidGranted", "A1/granted", 12, n_parties=1, aid_number="A1")
    filed = make("CaseFiled", "C1", 40, case_number="C1", cause_of_action="labour_wages")
    state, _ = run([(incident, [A, C, B]), (aid, [A, "ORG-e"]), (granted, [A]), (filed, [A, "ORG-e"])])
    assert len({thread_of(e.event_id, state) for e in (incident, aid, granted, filed)}) == 1


def test_a_person_merge_rethreads_and_is_idempotent() -> None:
    incident = make("IncidentReported", "J1", 0, incident_number="J1")
    filed = make("CaseFiled", "C1", 60, case_number="C1")
    served = make("DocumentsServed", "C1/s", 70, case_number="C1")
    state, _ = run([(incident, [A, B]), (filed, [A, B2]), (served, [A, B2])])
    assert thread_of(incident.event_id, state) != thread_of(filed.event_id, state)
    proc = DisputeProcessor()
    outputs = proc.on_persons_merged(B, B2, filed.record["envelope"]["occurred_at"], state)
    survivor = thread_of(incident.event_id, state)
    assert thread_of(filed.event_id, state) == survivor == thread_of(served.event_id, state)
    assert {o.record["event_ref"] for o in outputs} == {filed.event_id, served.event_id}
    assert all(o.record["method"] == "merged" and o.record["merged_into"] == survivor for o in outputs)
    for out in outputs:
        models.validate("DisputeThreaded", out.record)
    before = copy.deepcopy(state.tables)
    assert proc.on_persons_merged(B, B2, filed.record["envelope"]["occurred_at"], state) == []
    assert state.tables == before
    # later records naming the retired id land on the survivor's thread
    heard = make("HearingHeld", "C1/h", 90, case_number="C1")
    assert proc.handle_resolved(heard, [A, B2], state)[0].record["person_ids"] == [A, B]


def test_a_person_merge_through_the_runner_entry_point() -> None:
    incident = make("IncidentReported", "J1", 0, incident_number="J1")
    filed = make("CaseFiled", "C1", 60, case_number="C1")
    state, _ = run([(incident, [A, B]), (filed, [A, B2])])
    merged = {"envelope": {**incident.record["envelope"], "event_type": "PersonsMerged"},
              "surviving_person_id": B, "retired_person_id": B2}
    outputs = DisputeProcessor().handle(Event("PersonsMerged", merged), state)
    assert outputs and thread_of(filed.event_id, state) == thread_of(incident.event_id, state)


def test_sealed_records_give_sealed_decisions() -> None:
    restriction = {"kind": "juvenile_sealed", "until": None}
    event = make("IncidentReported", "J1", 0, incident_number="J1")
    event.record["envelope"]["restriction"] = restriction
    _, outputs = run([(event, [A, B])])
    assert outputs[0].record["envelope"]["restriction"] == restriction
    models.validate("DisputeThreaded", outputs[0].record)


def test_records_read_out_of_order_still_meet_when_a_thread_grows() -> None:
    """Court export first: the lawsuit is 200 days after the police call, beyond the window, so they
    start apart; the mediation case that names the call brings the thread within reach of the lawsuit."""
    filed = make("CaseFiled", "C1", 200, case_number="C1")
    incident = make("IncidentReported", "J1", 0, incident_number="J1")
    opened = make("MediationCaseOpened", "M1", 60, mediation_case_number="M1",
                  related=[ref("police", "incident", "J1")])
    closed = make("MediationConcluded", "M1/end", 100, mediation_case_number="M1")
    state, outputs = run([(filed, [A, B]), (incident, [A, B]), (opened, [A, B]), (closed, [A, B])])
    assert len({thread_of(e.event_id, state) for e in (filed, incident, opened, closed)}) == 1
    assert any(o.record["method"] == "merged" for o in outputs)


def test_a_legal_aid_application_joins_the_call_and_the_lawsuit_read_in_the_other_order() -> None:
    filed = make("CaseFiled", "C1", 40, case_number="C1", cause_of_action="labour_wages")
    incident = make("IncidentReported", "J1", 0, n_parties=3, incident_number="J1", category="wage_arrears",
                    dispute_type="labour_wages")
    aid = make("LegalAidApplied", "A1", 10, aid_number="A1")
    state, _ = run([(filed, [A, "ORG-e"]), (incident, [A, C, B]), (aid, [A, "ORG-e"])])
    assert len({thread_of(e.event_id, state) for e in (filed, incident, aid)}) == 1


def test_a_second_police_call_between_neighbours_is_a_new_dispute() -> None:
    first = make("IncidentReported", "J1", 0, incident_number="J1")
    second = make("IncidentReported", "J2", 90, incident_number="J2")
    state, _ = run([(first, [A, B]), (second, [B, A])])
    assert thread_of(first.event_id, state) != thread_of(second.event_id, state)


def test_a_party_of_very_many_threads_is_no_evidence() -> None:
    """A township government in every requisition dispute: once it is party to many threads, a case
    whose only resolved party is the government does not join any of them."""
    gov = "P-gov"
    events = [(make("MediationCaseOpened", f"M{i}", i, mediation_case_number=f"M{i}",
                    dispute_type="land_requisition"), [f"P-resident-{i}", gov]) for i in range(6)]
    unresolved = make("MediationCaseOpened", "M9", 7, mediation_case_number="M9", dispute_type="land_requisition")
    filed = make("CaseFiled", "C5", 30, case_number="C5", cause_of_action="land_requisition")
    state, _ = run([*events, (unresolved, [None, gov]), (filed, ["P-resident-5", gov])])
    threads = {thread_of(e.event_id, state) for e, _ in events}
    assert len(threads) == 6 and thread_of(unresolved.event_id, state) not in threads
    assert thread_of(filed.event_id, state) == thread_of(events[5][0].event_id, state)
