"""Each default rule fires on the history that should trigger it, through real events, and stays
silent on a near miss."""

from __future__ import annotations

from datetime import timedelta

from runtime.clock import to_millis
from streams.alerts.records import alert_key
from streams.envelope import hub_event_id
from streams.processor import ALERTS_TOPIC
from tests.streams.test_alerts_builders import T0, Driver, make, raised

H, W, X, Y = "P-husband", "P-wife", "P-x", "P-y"
DIVORCE_DV = "repeated_divorce_with_domestic_violence"
CORRECTION = "new_incident_under_community_correction"
URGENT = "urgent_matter_without_response_72h"
MEDIATION = "mediation_overdue"


def divorce(key: str, day: float):
    return make("DivorceRegistered", key, day, registration_number=key)


def dv_incident(key: str, day: float, **extra):
    return make("IncidentReported", key, day, incident_number=key, category="domestic_violence",
                dispute_type="marriage_family", **extra)


# --- 1. repeated divorce registrations + domestic violence -> red, mediator ------------------------------
def test_two_divorces_in_three_years_with_recent_domestic_violence_raise_a_red_alert_per_spouse() -> None:
    driver = Driver()
    story = [(divorce("G1", 0), [H, W]), (dv_incident("J1", 400), [W, H]), (divorce("G2", 700), [H, W])]
    outputs = driver.run(story)
    alerts = raised(outputs, DIVORCE_DV)
    assert sorted(a["person_id"] for a in alerts) == [H, W]
    evidence = sorted(e.event_id for e, _ in story)
    for alert in alerts:
        assert alert["level"] == "red" and alert["role"] == "mediator" and alert["dispute_id"] is None
        assert alert["evidence_event_ids"] == evidence
        assert alert["alert_id"] == hub_event_id(alert_key(DIVORCE_DV, alert["person_id"], evidence))
        assert alert["envelope"]["occurred_at"] == T0 + timedelta(days=700)
        assert "2 matching events within 1095 days" in alert["message"]
        assert H not in alert["message"] and W not in alert["message"]
    assert {(o.topic, o.key) for o in outputs if o.event_type == "AlertRaised"} == {(ALERTS_TOPIC, H),
                                                                                     (ALERTS_TOPIC, W)}


def test_divorce_rule_near_misses_and_a_later_warning_letter_that_completes_it() -> None:
    driver = Driver()
    # the violence is 450 days before the second divorce: outside the 12-month window
    assert raised(driver.run([(divorce("G1", 0), [H, W]), (dv_incident("J1", 250), [W, H]),
                              (divorce("G2", 700), [H, W])])) == []
    # divorces 1200 days apart are not "within 3 years", whatever the violence
    other = Driver()
    assert raised(other.run([(divorce("G1", 0), [H, W]), (dv_incident("J1", 1100), [W, H]),
                             (divorce("G2", 1200), [H, W])])) == []
    # a warning letter within 12 months of the second divorce completes the pattern
    warning = make("DomesticViolenceWarningIssued", "WL1", 900, warning_number="WL1", incident_number="J7")
    alerts = raised(driver.feed(warning, [H, W]), DIVORCE_DV)
    assert len(alerts) == 2 and all(warning.event_id in a["evidence_event_ids"] for a in alerts)


def test_divorce_rule_is_independent_of_arrival_order() -> None:
    """Civil affairs loaded before the police: the pattern still shows when the violence arrives."""
    driver = Driver()
    outputs = driver.run([(divorce("G1", 0), [H, W]), (divorce("G2", 700), [H, W]), (dv_incident("J1", 400), [W, H])])
    assert len(raised(outputs, DIVORCE_DV)) == 2


def test_no_second_alert_while_one_is_open() -> None:
    driver = Driver()
    driver.run([(divorce("G1", 0), [H, W]), (dv_incident("J1", 400), [W, H]), (divorce("G2", 700), [H, W])])
    more = driver.run([(dv_incident("J2", 720), [W, H]), (divorce("G3", 800), [H, W])])
    assert raised(more, DIVORCE_DV) == []


# --- 2. community correction + new police incident -> red, correction officer ------------------------
def correction_start(day: float):
    return make("CommunityCorrectionStarted", "K1/start", day, n_parties=1, correction_number="K1")


def correction_end(day: float):
    return make("CommunityCorrectionEnded", "K1/end", day, n_parties=1, correction_number="K1")


def incident(key: str, day: float):
    return make("IncidentReported", key, day, incident_number=key)


def test_a_new_incident_under_community_correction_warns_the_correction_officer() -> None:
    driver = Driver()
    start = correction_start(0)
    assert driver.feed(start, [X]) == []
    new = incident("J9", 100)
    alerts = raised(driver.feed(new, [Y, X]), CORRECTION)
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["person_id"], alert["level"], alert["role"]) == (X, "red", "correction_officer")
    assert alert["evidence_event_ids"] == sorted([start.event_id, new.event_id])
    assert raised(driver.feed(incident("J10", 150), [Y, X])) == []   # still open: no duplicate


def test_correction_rule_near_misses_before_start_and_after_end() -> None:
    driver = Driver()
    outputs = driver.run([(incident("J0", -30), [Y, X]), (correction_start(0), [X]), (correction_end(300), [X]),
                          (incident("J1", 320), [Y, X])])
    assert raised(outputs) == []


def test_correction_rule_when_the_police_record_arrives_before_the_justice_record() -> None:
    driver = Driver()
    outputs = driver.run([(incident("J1", 100), [Y, X]), (correction_start(0), [X])])
    assert [a["person_id"] for a in raised(outputs, CORRECTION)] == [X]


# --- 3. urgent matter without response in 72 hours -> yellow, mediator ----------------------------------
def wage_incident(key: str, day: float):
    return make("IncidentReported", key, day, incident_number=key, category="wage_arrears",
                dispute_type="labour_wages")


def test_an_urgent_matter_without_a_step_in_72_hours_raises_a_yellow_alert_at_the_deadline() -> None:
    driver = Driver()
    opening = wage_incident("J1", 0)
    assert driver.feed(opening, [W, X]) == []
    # another police record four days later shows the police feed has passed the deadline
    outputs = driver.feed(incident("J2", 4), ["P-other", "P-other2"])
    alerts = raised(outputs, URGENT)
    assert len(alerts) == 1
    alert = alerts[0]
    dispute = driver.state.table("dispute_events")[opening.event_id]["d"]
    assert (alert["level"], alert["role"], alert["dispute_id"], alert["person_id"]) == ("yellow", "mediator",
                                                                                         dispute, W)
    assert alert["evidence_event_ids"] == [opening.event_id]
    assert alert["envelope"]["occurred_at"] == T0 + timedelta(hours=72)
    assert [o.key for o in outputs if o.event_type == "AlertRaised"] == [dispute]


def test_a_referral_within_72_hours_is_a_near_miss() -> None:
    driver = Driver()
    outputs = driver.run([
        (dv_incident("J1", 0), [W, H]),
        (make("DisputeReferredToMediation", "R1", 2.5, referral_number="R1", incident_number="J1",
              dispute_type="marriage_family"), [W, H]),
        (incident("J2", 10), ["P-other", "P-other2"]),
    ])
    assert driver.feed(make("MediationCaseOpened", "M9", 12, mediation_case_number="M9"), ["P-o", "P-p"]) == []
    assert raised(outputs) == []
    assert driver.alerts.tick(to_millis(T0 + timedelta(days=30)), driver.state) == []


def test_tick_raises_the_same_alert_the_event_clock_would() -> None:
    by_tick = Driver()
    by_tick.feed(dv_incident("J1", 0), [W, H])
    assert by_tick.alerts.tick(to_millis(T0 + timedelta(hours=71)), by_tick.state) == []
    ticked = by_tick.alerts.tick(to_millis(T0 + timedelta(days=20)), by_tick.state)
    by_clock = Driver()
    by_clock.feed(dv_incident("J1", 0), [W, H])
    clocked = by_clock.feed(incident("J2", 5), ["P-o", "P-p"])
    assert [o.record for o in ticked] == [o.record for o in clocked] and len(ticked) == 1
    assert by_tick.alerts.tick(to_millis(T0 + timedelta(days=40)), by_tick.state) == []


def test_a_follow_up_that_arrives_late_but_was_on_time_supersedes_the_alert() -> None:
    driver = Driver()
    driver.run([(wage_incident("J1", 0), [W, X]), (incident("J2", 5), ["P-o", "P-p"])])
    alert_id = driver.state.table("alerts_active")[f"{URGENT}|" + driver.state.table("dispute_events")[
        wage_incident("J1", 0).event_id]["d"]]
    late = make("MediationCaseOpened", "M1", 2, mediation_case_number="M1", dispute_type="labour_wages")
    outputs = driver.feed(late, [W, X])
    ends = [o.record for o in outputs if o.event_type == "AlertResolved"]
    assert [(e["alert_id"], e["resolution"], e["user_id"]) for e in ends] == [(alert_id, "superseded", "system")]


def test_justice_loaded_before_police_finds_the_earlier_follow_up() -> None:
    driver = Driver()
    driver.feed(make("MediationCaseOpened", "M1", 2, mediation_case_number="M1", dispute_type="labour_wages"),
                [W, X])
    outputs = driver.run([(wage_incident("J1", 0), [W, X]), (incident("J2", 5), ["P-o", "P-p"])])
    assert raised(outputs) == []
    later = driver.alerts.tick(to_millis(T0 + timedelta(days=60)), driver.state)
    assert [a["rule"] for a in raised(later)] == [MEDIATION]   # that mediation never ended; the wages matter is fine


def test_a_deadline_waits_for_every_agency_that_could_follow_it_up() -> None:
    """The justice feed has been seen but is behind: a police record alone does not decide."""
    driver = Driver()
    driver.feed(make("MediationCaseOpened", "M0", -10, mediation_case_number="M0"), ["P-o", "P-p"])
    driver.feed(make("MediationConcluded", "M0/end", -9, mediation_case_number="M0"), ["P-o", "P-p"])
    driver.feed(wage_incident("J1", 0), [W, X])
    assert raised(driver.feed(incident("J2", 5), ["P-o", "P-p"])) == []
    # the justice feed reaches past the deadline with no step for this matter: now it is overdue
    outputs = driver.feed(make("MediationCaseOpened", "M5", 6, mediation_case_number="M5"), ["P-q", "P-r"])
    assert [a["rule"] for a in raised(outputs)] == [URGENT]


# --- 4. people's mediation beyond 30 days -> blue, mediator ---------------------------------------------
def test_mediation_open_beyond_30_days_raises_a_blue_alert() -> None:
    driver = Driver()
    opened = make("MediationCaseOpened", "M1", 0, mediation_case_number="M1")
    driver.feed(opened, [W, H])
    outputs = driver.feed(make("MediationConcluded", "M1/end", 35, mediation_case_number="M1"), [W, H])
    alerts = raised(outputs, MEDIATION)
    assert len(alerts) == 1
    assert (alerts[0]["level"], alerts[0]["role"]) == ("blue", "mediator")
    assert alerts[0]["evidence_event_ids"] == [opened.event_id]
    assert alerts[0]["envelope"]["occurred_at"] == T0 + timedelta(days=30)


def test_mediation_concluded_within_30_days_is_a_near_miss_and_escalation_starts_a_new_period() -> None:
    driver = Driver()
    outputs = driver.run([
        (make("MediationCaseOpened", "M1", 0, mediation_case_number="M1"), [W, H]),
        (make("MediationConcluded", "M1/end", 25, mediation_case_number="M1", outcome="escalated",
              escalated_to="township"), [W, H]),
        (make("MediationCaseOpened", "M2", 26, mediation_case_number="M2", level="township",
              source="escalated_from_lower_level"), [W, H]),
        (make("MediationConcluded", "M2/end", 50, mediation_case_number="M2"), [W, H]),
        (make("MediationCaseOpened", "M3", 70, mediation_case_number="M3"), ["P-o", "P-p"]),
    ])
    assert raised(outputs) == []


def test_a_follow_up_exactly_at_the_deadline_is_in_time() -> None:
    driver = Driver()
    outputs = driver.run([
        (make("MediationCaseOpened", "M1", 0, mediation_case_number="M1"), [W, H]),
        (make("MediationCaseOpened", "M2", 30, mediation_case_number="M2"), ["P-o", "P-p"]),
        (make("MediationConcluded", "M1/end", 30, mediation_case_number="M1"), [W, H]),
        (make("MediationConcluded", "M2/end", 31, mediation_case_number="M2"), ["P-o", "P-p"]),
    ])
    assert raised(outputs) == []


# --- 5. a released prisoner not received within 7 days -> red, correction officer -----------------------
RELEASED = "released_prisoner_not_received"
R, S = "P-released", "P-other"


def notice(key: str, day: float):
    return make("ReleaseNoticeIssued", key, day, notice_number=key)


def receipt(key: str, day: float):
    return make("ReleasedPrisonerReceived", key, day, handover_number=key)


def test_a_release_notice_without_a_receipt_in_7_days_raises_a_red_alert_at_the_deadline() -> None:
    driver = Driver()
    opened = notice("SF1", 0)
    driver.feed(opened, [R])
    outputs = driver.feed(receipt("AZ1", 20), [R])   # weeks late: the justice feed has passed the deadline
    alerts = raised(outputs, RELEASED)
    assert len(alerts) == 1
    assert (alerts[0]["level"], alerts[0]["role"]) == ("red", "correction_officer")
    assert alerts[0]["evidence_event_ids"] == [opened.event_id]
    assert alerts[0]["envelope"]["occurred_at"] == T0 + timedelta(days=7)


def test_a_receipt_within_7_days_or_of_another_person_is_a_near_miss_and_the_clock_raises_the_rest() -> None:
    driver = Driver()
    outputs = driver.run([
        (notice("SF1", 0), [R]),
        (notice("SF2", 0), [S]),
        (receipt("AZ1", 7), [R]),          # on the last day: in time
        (receipt("AZ9", 3), ["P-third"]),  # someone else's receipt closes nothing
    ])
    assert raised(outputs) == []
    ticked = driver.alerts.tick(to_millis(T0 + timedelta(days=8)), driver.state)
    assert [a["person_id"] for a in raised(ticked, RELEASED)] == [S]


def test_a_receipt_read_before_its_notice_closes_the_hand_over() -> None:
    driver = Driver()
    outputs = driver.run([(receipt("AZ1", 2), [R]), (notice("SF1", 0), [R]), (make(
        "MediationCaseOpened", "M1", 30, mediation_case_number="M1"), [W, H])])
    assert raised(outputs, RELEASED) == []
