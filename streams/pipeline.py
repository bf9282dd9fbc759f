"""The processors chained for one agency event: identity -> disputes -> alerts — and the stream
topology, declared once: the topics the pipeline reads, the topics it writes, where what it cannot
handle goes, and the wall-clock work (`tick`) a runner must schedule.

Every runner (streams/runners/embedded.py over the embedded log, streams/runners/faust_app.py over
Kafka) takes this object and adds no wiring of its own, so the embedded deployment and the Kafka
deployment make the same decisions. For every agency event it emits
the processors' decisions (PersonLinked, PersonsMerged, DisputeThreaded, AlertRaised …)
and one EventResolved — the event with the resolved person of each party and the thread
it joined — from which the views are projected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from runtime.clock import to_millis
from runtime.topics import (
    AGENCY_TOPICS,
    ALERTS_TOPIC,
    CONSENT_TOPIC,
    DISPUTES_TOPIC,
    IDENTITY_REVIEWS_TOPIC,
    IDENTITY_TOPIC,
    PROCESSORS_DEAD_LETTER_TOPIC,
    RESOLVED_TOPIC,
)
from streams.disputes.processor import DisputeProcessor
from streams.envelope import hub_envelope
from streams.identity.processor import IdentityProcessor
from streams.processor import Event, Output, ScopedState, State
from streams.stories import Stories

AGENCIES_BY_TOPIC = {t: t.split(".")[1] for t in AGENCY_TOPICS}


class AlertsProcessor(Protocol):
    def handle_resolved(self, event: Event, resolved: dict[str, Any], decisions: list[Output],
                        state: State) -> list[Output]: ...

    def handle(self, event: Event, state: State) -> list[Output]: ...

    def tick(self, now_ms: int, state: State) -> list[Output]: ...

    def due(self, now_ms: int, state: State) -> bool: ...

    def fact_of(self, event: Event, stage: str | None) -> list[Any]: ...


LIFECYCLE_EVENTS = ("AlertAcknowledged", "AlertResolved")
REVIEW_EVENT = "IdentityReviewDecided"
COUNTIES = "pipeline.counties"   # the counties whose stories this state holds


class Pipeline:
    name = "pipeline"
    # the alerts topic comes back in so that acknowledgements and resolutions made in the
    # API reach the alerts processor's state (its own AlertRaised are ignored there)
    # reviewers' decisions (IdentityReviewDecided, from `justlink identity review`) reach the identity graph
    input_topics: tuple[str, ...] = (*AGENCY_TOPICS, CONSENT_TOPIC, ALERTS_TOPIC, IDENTITY_REVIEWS_TOPIC)
    output_topics: tuple[str, ...] = (IDENTITY_TOPIC, DISPUTES_TOPIC, RESOLVED_TOPIC, ALERTS_TOPIC)
    dead_letter_topic = PROCESSORS_DEAD_LETTER_TOPIC
    tick_every_s = 60.0   # how often a runner calls `tick` while it runs

    def __init__(self, identity: IdentityProcessor | None = None, disputes: DisputeProcessor | None = None,
                 alerts: AlertsProcessor | None = None) -> None:
        self.identity = identity or IdentityProcessor()
        self.disputes = disputes or DisputeProcessor()
        self.alerts = alerts
        self.stories = Stories(self.disputes, alerts)
        self._scopes: dict[int, tuple[State, dict[str, ScopedState]]] = {}

    @classmethod
    def default(cls, data_dir: Path | None = None) -> Pipeline:
        """The pipeline every deployment runs: identity -> disputes -> alerts; identity with the data
        dir's accepted model (`justlink identity train`), else the default one."""
        from streams.alerts.processor import AlertsProcessor as RuleAlerts
        from streams.identity.model import load_model

        return cls(identity=IdentityProcessor(load_model(data_dir)), alerts=RuleAlerts())

    def handle(self, event: Event, state: State) -> list[Output]:
        """One event through both stages. Persons are resolved across the whole hub; the event's story
        (threads, alerts) lives in its county's scope of the state, which also learns of identity
        changes that concern its other counties' people — what a partitioned deployment does with
        stories partitioned by county (see `story_scope`)."""
        county = event.record["envelope"]["source"].get("county_code") or ""
        if event.record["envelope"]["source"]["agency"] == "hub":
            if event.event_type in LIFECYCLE_EVENTS:
                return self.handle_lifecycle(event, self.story_scope(state, county))
            if event.event_type == REVIEW_EVENT:
                changes = self.identity.handle_review(event, state)
                return changes + [out for c in self.counties(state)
                                  for out in self.apply_identity_changes(changes, self.story_scope(state, c))]
            return []  # other hub events (consents, the processors' own alerts) are for the views
        identity_changes, person_ids = self.resolve(event, state)
        outputs = list(identity_changes)
        if identity_changes:
            for other in self.counties(state):
                if other != county:
                    outputs += self.apply_identity_changes(identity_changes, self.story_scope(state, other))
        return outputs + self.handle_resolved(event, person_ids, identity_changes, self.story_scope(state, county))

    # The two stages of `handle`. On one process they run back to back; a deployment that resolves
    # persons on other partitions than it threads disputes calls them apart, with the same code.
    def story_scope(self, state: State, county: str) -> State:
        """The part of `state` that holds one county's stories (dispute threads and alerts). Stories
        do not cross counties: a person known in two counties is one person, with one story per county."""
        counties = state.table(COUNTIES)
        if county not in counties:
            counties[county] = 1
        scopes = self._scopes.get(id(state))
        if scopes is None or scopes[0] is not state:
            scopes = self._scopes[id(state)] = (state, {})
        scoped = scopes[1].get(county)
        if scoped is None:
            scoped = scopes[1][county] = ScopedState(state, f"county:{county}")
        return scoped

    @staticmethod
    def counties(state: State) -> list[str]:
        return sorted(state.table(COUNTIES))

    def apply_identity_changes(self, identity_changes: list[Output], state: State) -> list[Output]:
        """Identity decisions that arrive without an event of this story scope (persons merged or split
        because of a record elsewhere, or by a reviewer): the stories whose persons they change are
        threaded and evaluated again (streams/stories/README.md)."""
        changes = [o for o in identity_changes if o.event_type in ("PersonsMerged", "PersonSplit")]
        if not changes:
            return []
        at = max(to_millis(o.record["envelope"]["occurred_at"]) for o in changes)
        return self.stories.identity_changed(changes, at, state)

    def handle_lifecycle(self, event: Event, state: State) -> list[Output]:
        """An alert acknowledged or resolved in the API (read back from the alerts topic), in its county's
        story scope: the alert's state learns it, and a replay will not reopen what a person closed."""
        if self.alerts is None:
            return []
        self.stories.note_lifecycle(event, state)
        return self.alerts.handle(event, state)

    def resolve(self, event: Event, state: State) -> tuple[list[Output], list[str]]:
        """Stage 1, identity: the decisions and the person id of each party."""
        return self.identity.resolve_event(event, state)

    def handle_resolved(self, event: Event, person_ids: list[str], identity_changes: list[Output],
                        state: State) -> list[Output]:
        """Stage 2, the event's story: thread it, evaluate the alert rules, and publish it resolved.
        `identity_changes` are the identity decisions that came with it (merges, splits)."""
        outputs, placement = self.stories.handle(event, list(person_ids), identity_changes, state)
        outputs.append(Output("EventResolved", self._resolved(event, person_ids, placement), RESOLVED_TOPIC,
                              event.event_id))
        return outputs

    @staticmethod
    def deduplicates(topic: str) -> bool:
        """Whether the runner core skips an event id this state has applied before (a connector published
        it twice, a forwarder sent it again): on every input of the pipeline."""
        return True

    def review(self, key_a: str, key_b: str, decision: str, at: Any, state: State) -> list[Output]:
        """A reviewer's decision about two party occurrences ("same" / "apart"): the identity changes it
        makes, and the corrections of the threads and alerts of the stories whose persons changed."""
        env = hub_envelope("PersonSplit" if decision == "apart" else "PersonsMerged",
                           f"review\x1f{min(key_a, key_b)}\x1f{max(key_a, key_b)}\x1f{decision}", at)
        outputs = self.identity.review(key_a, key_b, decision, state, env)
        return outputs + [out for county in self.counties(state)
                          for out in self.apply_identity_changes(outputs, self.story_scope(state, county))]

    def clock_due(self, now_ms: int, state: State) -> bool:
        """Whether `tick` at `now_ms` would expire a deadline in any county."""
        return self.alerts is not None and any(self.alerts.due(now_ms, self.story_scope(state, county))
                                               for county in self.counties(state))

    def tick(self, now_ms: int, state: State) -> list[Output]:
        """Deadline rules against the wall clock, for agencies that have gone quiet, in every county."""
        return [out for county in self.counties(state) for out in self.stories.tick(now_ms, self.story_scope(state, county))]

    @staticmethod
    def _resolved(event: Event, person_ids: list[str], placement: dict[str, Any] | None) -> dict[str, Any]:
        env = event.record["envelope"]
        return {
            "envelope": hub_envelope("EventResolved", f"resolved\x1f{event.event_id}", env["occurred_at"],
                                     county_code=env["source"].get("county_code", ""),
                                     restriction=env.get("restriction")),
            "event_ref": event.event_id,
            "source_event_type": event.event_type,
            "source_agency": env["source"]["agency"],
            "source_office_code": env["source"].get("office_code", ""),
            "occurred_at": env["occurred_at"],
            "person_ids": [p or "" for p in person_ids],
            "dispute_id": placement["dispute_id"] if placement else None,
            "stage": placement["stage"] if placement else None,
            "restricted": env.get("restriction"),
            "payload": event.raw,
        }
