"""The alerts processor inside the pipeline, over a generated county published by the four real
connectors and driven by the embedded runner: every default rule fires on the county's stories."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.clock import to_millis
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import ALERTS_TOPIC, RESOLVED_TOPIC
from schemas import models
from schemas.wire import default_codec
from streams.alerts import AlertsProcessor, load_rules
from streams.pipeline import Pipeline
from streams.runners.embedded import EmbeddedRunner
from tests.support.county import generated_and_published

EXPORT_DATE = datetime(2025, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    county, data = generated_and_published(tmp_path_factory.mktemp("alerts-pipeline"), 700, seed=9)
    log = EmbeddedEventLog(data / "log.db")
    alerts = AlertsProcessor()
    pipeline = Pipeline(alerts=alerts)
    runner = EmbeddedRunner(log, pipeline, Path(data) / "state.pickle")
    started = time.perf_counter()
    stats = runner.run(until_idle=True)
    seconds = time.perf_counter() - started
    codec = default_codec()
    consumer = log.consumer(f"check-{time.time_ns()}", [ALERTS_TOPIC, RESOLVED_TOPIC])
    on_topic, resolved_ids = [], set()
    while batch := consumer.poll(5000, timeout_s=0.2):
        for record in batch:
            event_type, value = codec.decode(record.value)
            if record.topic == ALERTS_TOPIC:
                on_topic.append((event_type, value, record.key))
            else:
                resolved_ids.add(value["event_ref"])
    consumer.close()
    log.close()
    ticked = alerts.tick(to_millis(EXPORT_DATE), runner.state)
    return {"topic": on_topic, "ticked": ticked, "stats": stats, "seconds": seconds, "events": resolved_ids,
            "state": runner.state}


def test_every_default_rule_fires_on_the_generated_county(run: dict) -> None:
    fired = Counter(v["rule"] for t, v, _ in run["topic"] if t == "AlertRaised")
    assert run["stats"].dead_lettered == 0
    for rule in load_rules().rules:
        assert fired[rule.name] >= 1, (rule.name, dict(fired))


def test_alerts_on_the_topic_are_valid_keyed_by_subject_and_cite_real_events(run: dict) -> None:
    ids = [v["envelope"]["event_id"] for _, v, _ in run["topic"]]
    assert len(ids) == len(set(ids))   # no duplicates
    raised = [(v, k) for t, v, k in run["topic"] if t == "AlertRaised"]
    for value, key in raised:
        models.validate("AlertRaised", value)
        assert key.decode() == (value["dispute_id"] if value["rule"].endswith(("72h", "overdue")) else value["person_id"])
        assert set(value["evidence_event_ids"]) <= run["events"]
    slots = Counter((v["rule"], k) for v, k in raised)
    closed = Counter(v["alert_id"] for t, v, _ in run["topic"] if t == "AlertResolved")
    assert all(n == 1 for n in closed.values())
    # at most one open alert per rule and subject at the end
    active = run["state"].table("alerts_active")
    assert len(active) == len(set(active))
    assert slots


def test_tick_at_the_export_date_raises_the_deadlines_still_open(run: dict) -> None:
    for out in run["ticked"]:
        models.validate(out.event_type, out.record)
        assert out.record["rule"] in ("urgent_matter_without_response_72h", "mediation_overdue")
        assert out.record["envelope"]["occurred_at"] <= EXPORT_DATE
