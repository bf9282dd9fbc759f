"""Alert lifecycle (acknowledge, resolve, dismiss), no duplicates, person merges and splits,
idempotent handling, replay, and sealed evidence."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from schemas import models
from streams.alerts import AlertsProcessor, AlertStateError, active_alerts
from streams.identity.events import person_split, persons_merged
from streams.processor import Event
from tests.streams.test_alerts_builders import T0, Driver, make, raised
from tests.streams.test_alerts_rules_default import DIVORCE_DV, H, W, divorce, dv_incident

AT = T0 + timedelta(days=800)


def triggered() -> tuple[Driver, str]:
    driver = Driver()
    driver.run([(divorce("G1", 0), [H, W]), (dv_incident("J1", 400), [W, H]), (divorce("G2", 700), [H, W])])
    return driver, driver.state.table("alerts_active")[f"{DIVORCE_DV}|{H}"]


def test_acknowledge_then_resolve_emit_lifecycle_events_and_free_the_rule() -> None:
    driver, alert_id = triggered()
    acked = driver.alerts.acknowledge(alert_id, "u-mediator-1", AT, driver.state)
    assert [o.event_type for o in acked] == ["AlertAcknowledged"] and acked[0].key == H
    assert models.validate("AlertAcknowledged", acked[0].record)["user_id"] == "u-mediator-1"
    assert driver.alerts.acknowledge(alert_id, "u-mediator-1", AT, driver.state)[0].record == acked[0].record
    listed = [a for a in active_alerts(driver.state) if a["alert_id"] == alert_id]
    assert listed[0]["status"] == "acknowledged" and listed[0]["acknowledged_by"] == ["u-mediator-1"]

    done = driver.alerts.resolve(alert_id, "u-mediator-1", "resolved", "visited the family", AT, driver.state)
    record = models.validate("AlertResolved", done[0].record)
    assert (record["resolution"], record["reason"], done[0].key) == ("resolved", "visited the family", H)
    assert alert_id not in {a["alert_id"] for a in active_alerts(driver.state)}
    with pytest.raises(AlertStateError, match="already closed"):
        driver.alerts.resolve(alert_id, "u-mediator-1", "dismissed", "", AT, driver.state)
    with pytest.raises(AlertStateError, match="already closed"):
        driver.alerts.acknowledge(alert_id, "u-2", AT, driver.state)
    # closed: a new triggering event raises a new alert with new evidence
    again = raised(driver.feed(dv_incident("J3", 900), [W, H]), DIVORCE_DV)
    assert {a["person_id"] for a in again} == {H} and again[0]["alert_id"] != alert_id


def test_dismiss_needs_a_known_alert_and_a_valid_resolution() -> None:
    driver, alert_id = triggered()
    with pytest.raises(AlertStateError, match="no such alert"):
        driver.alerts.resolve("nope", "u", "dismissed", "", AT, driver.state)
    with pytest.raises(AlertStateError, match="resolution"):
        driver.alerts.resolve(alert_id, "u", "forgotten", "", AT, driver.state)
    out = driver.alerts.resolve(alert_id, "u", "dismissed", "known to the committee", AT, driver.state)
    assert out[0].record["resolution"] == "dismissed"


def test_lifecycle_events_read_back_from_the_topic_update_another_state() -> None:
    driver, alert_id = triggered()
    replica = copy.deepcopy(driver.state)
    ack = driver.alerts.acknowledge(alert_id, "u1", AT, driver.state)[0]
    end = driver.alerts.resolve(alert_id, "u1", "resolved", "", AT, driver.state)[0]
    for out in (ack, end, end):
        assert driver.alerts.handle(Event(out.event_type, out.record), replica) == []
    assert replica.table("alerts_alerts")[alert_id]["status"] == "resolved"
    assert f"{DIVORCE_DV}|{H}" not in replica.table("alerts_active")


def test_handling_an_event_twice_changes_nothing_and_repeats_its_alerts() -> None:
    driver = Driver()
    story = [(divorce("G1", 0), [H, W]), (dv_incident("J1", 400), [W, H]), (divorce("G2", 700), [H, W])]
    first = driver.run(story)
    before = copy.deepcopy(driver.state.tables)
    again = driver.feed(*story[-1])
    assert [o.record for o in again] == [o.record for o in first if o.event_type == "AlertRaised"]
    assert driver.state.tables == before


def test_a_replay_gives_byte_identical_alerts() -> None:
    story = [(divorce("G1", 0), [H, W]), (dv_incident("J1", 400), [W, H]), (divorce("G2", 700), [H, W]),
             (make("IncidentReported", "J2", 720, incident_number="J2"), ["P-o", "P-p"])]
    assert [o.record for o in Driver().run(story)] == [o.record for o in Driver().run(story)]


def test_a_person_merge_moves_history_and_can_raise_an_alert() -> None:
    driver = Driver()
    h2 = "P-husband-dup"   # the second divorce was resolved to a duplicate person at first
    driver.run([(divorce("G1", 0), [H, W]), (dv_incident("J1", 400), [W, H])])
    trigger = divorce("G2", 700)
    outputs = driver.feed(trigger, [h2, "P-wife-dup"])
    assert raised(outputs) == []
    merge = persons_merged(H, h2, f"{trigger.event_id}#0", 0.99, [], {**trigger.record["envelope"]})
    merge_event = make("MarriageRegistered", "G3", 701, registration_number="G3")
    outputs = driver.feed(merge_event, [H, "P-other"], decisions=[merge])
    alerts = raised(outputs, DIVORCE_DV)
    assert [a["person_id"] for a in alerts] == [H]
    assert trigger.event_id in alerts[0]["evidence_event_ids"]
    assert driver.feed(merge_event, [H, "P-other"], decisions=[merge])[0].record == alerts[0]   # idempotent


def test_a_merge_of_two_alerted_persons_keeps_one_alert() -> None:
    driver = Driver()
    h2 = "P-h2"
    driver.run([(divorce("G1", 0), [H, W]), (dv_incident("J1", 400), [W, H]), (divorce("G2", 700), [H, W]),
                (divorce("G4", 0), [h2, "P-w2"]), (dv_incident("J4", 400), ["P-w2", h2]),
                (divorce("G5", 700), [h2, "P-w2"])])
    merge_event = make("MarriageRegistered", "G9", 750, registration_number="G9")
    merge = persons_merged(H, h2, "x#0", 0.99, [], merge_event.record["envelope"])
    outputs = driver.feed(merge_event, [H, "P-other"], decisions=[merge])
    ends = [o.record for o in outputs if o.event_type == "AlertResolved"]
    assert len(ends) == 1 and ends[0]["resolution"] == "superseded" and raised(outputs) == []
    active = driver.state.table("alerts_active")
    assert f"{DIVORCE_DV}|{H}" in active and f"{DIVORCE_DV}|{h2}" not in active


def test_a_split_that_removes_the_evidence_supersedes_the_alert() -> None:
    driver, alert_id = triggered()
    second = divorce("G2", 700)
    split = person_split(H, "P-h-new", [f"{second.event_id}#0"], "operator_split", "u-dpo", 1_800_000_000_000)
    outputs = driver.alerts.on_person_split(split.record, driver.state)
    assert [(o.event_type, o.record["alert_id"], o.record["resolution"]) for o in outputs] == \
        [("AlertResolved", alert_id, "superseded")]
    assert driver.state.table("alerts_history")["P-h-new"][0][1] == second.event_id


def test_alerts_on_sealed_evidence_stay_sealed() -> None:
    driver = Driver()
    sealed = {"kind": "juvenile_sealed", "until": None}
    incident = dv_incident("J1", 400)
    record = copy.deepcopy(incident.record)
    record["envelope"]["restriction"] = sealed
    outputs = driver.run([(divorce("G1", 0), [H, W]), (Event(incident.event_type, record), [W, H]),
                          (divorce("G2", 700), [H, W])])
    assert all(a["envelope"]["restriction"] == sealed for a in raised(outputs, DIVORCE_DV))


def test_organisation_parties_are_never_subjects() -> None:
    driver = Driver(AlertsProcessor())
    event = make("IncidentReported", "J1", 0, incident_number="J1", category="wage_arrears")
    record = copy.deepcopy(event.record)
    record["parties"][1]["kind"] = "organisation"
    driver.feed(Event(event.event_type, record), [W, "O-company"])
    assert "O-company" not in driver.state.table("alerts_history")


def test_restored_tables_are_used_after_a_snapshot_restore() -> None:
    """The embedded runner swaps in the snapshot's tables; the processor must not keep the old ones."""
    driver = Driver()
    driver.run([(divorce("G1", 0), [H, W]), (dv_incident("J1", 400), [W, H])])
    snapshot = copy.deepcopy(driver.state.tables)
    driver.feed(divorce("G2", 700), [H, W])
    driver.state.tables = snapshot   # as EmbeddedRunner._restore does
    assert len(raised(driver.feed(divorce("G2", 700), [H, W]), DIVORCE_DV)) == 2
