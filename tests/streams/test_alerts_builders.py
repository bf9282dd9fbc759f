"""Drive the alerts processor the way the pipeline does: agency events (validated against their
contracts), threaded by the real DisputeProcessor, turned into EventResolved by the pipeline's own
builder, with person ids given by the test (identity resolution is tested elsewhere)."""

from __future__ import annotations

from typing import Any

from schemas import models
from streams.alerts import AlertsProcessor
from streams.disputes import DisputeProcessor
from streams.pipeline import Pipeline
from streams.processor import DictState, Event, Output
from tests.streams.test_disputes_builders import T0, make

__all__ = ["T0", "Driver", "make"]


class Driver:
    def __init__(self, processor: AlertsProcessor | None = None) -> None:
        self.alerts = processor or AlertsProcessor()
        self.disputes = DisputeProcessor()
        self.state = DictState()

    def feed(self, event: Event, persons: list[str | None], decisions: list[Output] | None = None) -> list[Output]:
        threaded = self.disputes.handle_resolved(event, persons, self.state)
        placement = next((o.record for o in threaded if o.event_type == "DisputeThreaded"
                          and o.record["event_ref"] == event.event_id), None)
        resolved = Pipeline._resolved(event, [p or "" for p in persons], placement)
        models.validate("EventResolved", resolved)
        outputs = self.alerts.handle_resolved(event, resolved, [*(decisions or []), *threaded], self.state)
        for out in outputs:
            assert models.validate(out.event_type, out.record) == out.record
        return outputs

    def run(self, story: list[tuple[Event, list[str | None]]]) -> list[Output]:
        return [o for event, persons in story for o in self.feed(event, persons)]


def raised(outputs: list[Output], rule: str | None = None) -> list[dict[str, Any]]:
    return [o.record for o in outputs if o.event_type == "AlertRaised" and (rule is None or o.record["rule"] == rule)]


def test_driver_threads_and_resolves_events() -> None:
    driver = Driver()
    out = driver.feed(make("IncidentReported", "J1", 0, incident_number="J1"), ["P-a", "P-b"])
    assert out == []
    assert driver.state.table("alerts_history")["P-a"][0][1] == make("IncidentReported", "J1", 0,
                                                                     incident_number="J1").event_id
