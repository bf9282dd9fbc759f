"""The partitioned deployment: the pipeline's two stages on partitions of their own, so that the work
spreads over workers without changing an answer.

    route     reads the pipeline's inputs (agency topics, consent, alerts). An agency event becomes one
              PartyOccurrence per natural-person party on `justlink.identity.in`, keyed by the party's
              name key (else its valid ID's blind index, else its record key) — records that can be
              joined meet on one partition, whatever county they come from — and goes itself to
              `justlink.stories.in`, keyed by its county. Alert acknowledgements go there too.
    identity  (`justlink.identity.in`) resolves each party against the identity graph of the names on
              its partition (a reviewer's IdentityReviewDecided goes to every identity partition; the
              one that holds its two records applies it, the others keep it pending): PersonLinked / PersonsMerged / PersonSplit to `justlink.identity`, a
              PartyResolved to the event's county on `justlink.stories.in`, and every merge and split
              to each story partition this identity partition has told about one of its persons
              (`STORY_PARTITIONS`): the others hold nothing of them, so the cost of a merge does not
              grow with the partition count.
    stories   (`justlink.stories.in`) keeps an event until all its natural-person parties are resolved,
              then threads it and evaluates the alert rules in its county's scope
              (`Pipeline.handle_resolved`); identity changes go to every county scope of the partition
              (`Pipeline.apply_identity_changes`). The wall clock comes as records too (ClockTicked,
              appended by the partition's owner when idle: `clock_records`), so that the deadline
              decisions are a function of the partition's log and survive a crash or a rebalance.

This object quacks like a Pipeline (`handle`, `tick`, `dead_letter_topic`), so the runner core drives
it unchanged. The embedded runner runs `Pipeline.handle` instead, which does the same in one step:
persons resolved across the hub, stories per county scope, identity changes to every county. Both give
the same persons, threads and alerts because each stage's answer depends on the set of its inputs, not
on their order (streams/identity/README.md; the stories' guarantee in streams/disputes/README.md).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from runtime.clock import to_millis
from runtime.eventlog.partitioner import partition_for
from runtime.topics import IDENTITY_IN_TOPIC, STORIES_IN_TOPIC
from schemas.wire import AvroCodec, default_codec
from streams.envelope import hub_envelope
from streams.identity.clusters import OCC as OCCURRENCES
from streams.pipeline import LIFECYCLE_EVENTS, REVIEW_EVENT, Pipeline
from streams.processor import Event, Output, State

PENDING = "stories.pending"   # event id -> [county, raw event, {party index: person id}, natural indexes,
                              #             the decoded event (type, record)]
STORY_PARTITIONS = "identity.story_partitions"   # person id -> the story partitions told of it (sorted);
                                                 # COMPLETE: whether that holds for every person of the state
COMPLETE = ""
IDENTITY_CHANGES = ("PersonsMerged", "PersonSplit")


class StagedTopology:
    def __init__(self, pipeline: Pipeline, stories_partitions: int, codec: AvroCodec | None = None) -> None:
        self.pipeline = pipeline
        self.codec = codec or default_codec()
        self.stories_partitions = stories_partitions
        self.input_topics: tuple[str, ...] = (*pipeline.input_topics, IDENTITY_IN_TOPIC, STORIES_IN_TOPIC)
        self.output_topics: tuple[str, ...] = (*pipeline.output_topics, IDENTITY_IN_TOPIC, STORIES_IN_TOPIC)
        self.dead_letter_topic = pipeline.dead_letter_topic
        self.tick_every_s = pipeline.tick_every_s

    # -- the runner's entry points ---------------------------------------------------------------------
    def handle(self, event: Event, state: State) -> list[Output]:
        if event.topic == IDENTITY_IN_TOPIC:
            return self._identity(event, state)
        if event.topic == STORIES_IN_TOPIC:
            return self._stories(event, state)
        return self._route(event)

    def tick(self, now_ms: int, state: State) -> list[Output]:
        """Nothing: the wall clock reaches the story stage as records (`clock_records`), never directly."""
        return []

    def clock_records(self, now_ms: int, partition: int, state: State) -> list[Output]:
        """The wall clock for one partition of the story stage (whose state is `state`), as a record on
        that partition — when a deadline of it has passed. The deadline rules run when the partition reads
        it (`_stories`), so a worker that rebuilds the partition from the log after a crash or a rebalance
        makes the same decisions at the same place — a tick applied to the state directly would be lost
        with the worker, and with it what consumers were told."""
        if not self.pipeline.clock_due(now_ms, state):
            return []
        record = {"envelope": hub_envelope("ClockTicked", f"tick\x1f{partition}\x1f{now_ms}", now_ms),
                  "partition": partition}
        return [Output("ClockTicked", record, STORIES_IN_TOPIC, broadcast_keys(self.stories_partitions)[partition])]

    @staticmethod
    def deduplicates(topic: str) -> bool:
        """Routing a record twice and resolving a party twice change nothing (the identity graph knows its
        record keys), so only the story stage keeps the event ids it has applied."""
        return topic == STORIES_IN_TOPIC

    # -- route -----------------------------------------------------------------------------------------
    def _route(self, event: Event) -> list[Output]:
        env = event.record["envelope"]
        county = env["source"].get("county_code") or ""
        if env["source"]["agency"] == "hub":
            if event.event_type in LIFECYCLE_EVENTS:
                return [Output(event.event_type, event.record, STORIES_IN_TOPIC, county, event.raw)]
            if event.event_type == REVIEW_EVENT:   # to every identity partition: the one holding its records acts
                return [Output(event.event_type, event.record, IDENTITY_IN_TOPIC, key, event.raw)
                        for key in broadcast_keys(self.stories_partitions)]
            return []
        outputs = []
        for index, party in enumerate(event.record.get("parties") or ()):
            if party.get("kind") == "organisation":
                continue
            record_key = f"{event.event_id}#{index}"
            occurrence = {"envelope": hub_envelope("PartyOccurrence", f"occ\x1f{record_key}", env["occurred_at"],
                                                   county_code=county, restriction=env.get("restriction")),
                          "source_envelope": env, "party_index": index, "party": party}
            outputs.append(Output("PartyOccurrence", occurrence, IDENTITY_IN_TOPIC, routing_key(party, record_key)))
        outputs.append(Output(event.event_type, event.record, STORIES_IN_TOPIC, county, event.raw))
        return outputs

    # -- identity ----------------------------------------------------------------------------------------
    def _identity(self, occurrence: Event, state: State) -> list[Output]:
        told = self._story_partitions(state)
        if occurrence.event_type == REVIEW_EVENT:
            return self._to_stories(self.pipeline.identity.handle_review(occurrence, state), told)
        rec = occurrence.record
        env, index = rec["source_envelope"], rec["party_index"]
        changes, person = self.pipeline.identity.resolve_occurrence(env, index, rec["party"], state)
        county = env["source"].get("county_code") or ""
        resolved = {"envelope": hub_envelope("PartyResolved", f"resolved\x1f{env['event_id']}#{index}",
                                             env["occurred_at"], county_code=county,
                                             restriction=env.get("restriction")),
                    "event_ref": env["event_id"], "party_index": index, "person_id": person}
        outputs = self._to_stories(changes, told)
        partition = partition_for(county.encode(), self.stories_partitions)
        if partition not in told.get(person, ()):
            told[person] = tuple(sorted({*told.get(person, ()), partition}))
        return [*outputs, Output("PartyResolved", resolved, STORIES_IN_TOPIC, county)]

    def _story_partitions(self, state: State) -> Any:
        """The table of the story partitions told of each person. A state restored from before the table
        existed does not know them: its merges and splits go to every story partition, as they did."""
        told = state.table(STORY_PARTITIONS)
        if COMPLETE not in told:
            told[COMPLETE] = not state.table(OCCURRENCES)
        return told

    def _to_stories(self, changes: list[Output], told: Any) -> list[Output]:
        """Identity's decisions, and each merge and split again to the story partitions told of one of its
        persons (those hold the events it changes; after it they have been told of both)."""
        outputs = list(changes)
        everywhere = range(self.stories_partitions)
        for change in changes:
            if change.event_type not in IDENTITY_CHANGES:
                continue
            rec = change.record
            persons = ((rec["surviving_person_id"], rec["retired_person_id"]) if change.event_type == "PersonsMerged"
                       else (rec["person_id"], rec["new_person_id"]))
            partitions = (sorted({p for person in persons for p in told.get(person, ())}) if told[COMPLETE]
                          else everywhere)
            for person in persons:
                if partitions and tuple(partitions) != told.get(person):
                    told[person] = tuple(partitions)
            keys = broadcast_keys(self.stories_partitions)
            outputs += [Output(change.event_type, change.record, STORIES_IN_TOPIC, keys[p]) for p in partitions]
        return outputs

    # -- stories -----------------------------------------------------------------------------------------
    def _stories(self, event: Event, state: State) -> list[Output]:
        if event.event_type == "ClockTicked":
            return self.pipeline.tick(to_millis(event.record["envelope"]["occurred_at"]), state)
        if event.event_type in IDENTITY_CHANGES:
            change = [Output(event.event_type, event.record, "", "")]
            return [out for county in self.pipeline.counties(state)
                    for out in self.pipeline.apply_identity_changes(change, self.pipeline.story_scope(state, county))]
        county = event.record["envelope"]["source"].get("county_code") or ""
        if event.event_type in LIFECYCLE_EVENTS:
            return self.pipeline.handle_lifecycle(event, self.pipeline.story_scope(state, county))
        pending = state.table(PENDING)
        if event.event_type == "PartyResolved":
            entry = pending.get(event.record["event_ref"]) or ["", b"", {}, None, None]
            entry = [entry[0], entry[1], {**entry[2], event.record["party_index"]: event.record["person_id"]}, entry[3],
                     entry[4]]
            event_id = event.record["event_ref"]
        else:
            entry = pending.get(event.event_id) or ["", b"", {}, None, None]
            natural = [i for i, p in enumerate(event.record.get("parties") or ()) if p.get("kind") != "organisation"]
            entry = [county, event.raw, entry[2], natural, [event.event_type, event.record]]
            event_id = event.event_id
        if entry[3] is None or any(i not in entry[2] for i in entry[3]):
            pending[event_id] = entry
            return []
        pending.pop(event_id, None)
        return self._thread(entry, state)

    def _thread(self, entry: list[Any], state: State) -> list[Output]:
        county, raw, resolved, _, (event_type, record) = entry
        event = Event(event_type, record, STORIES_IN_TOPIC, 0, 0, raw)
        from streams.identity.processor import organisation_id

        person_ids = [organisation_id(p) if p.get("kind") == "organisation" else resolved[i]
                      for i, p in enumerate(record.get("parties") or ())]
        return self.pipeline.handle_resolved(event, person_ids, [], self.pipeline.story_scope(state, county))


def routing_key(party: dict[str, Any], record_key: str) -> str:
    """Where a party is resolved: with the names that sound like its own; a party without a name with
    its valid ID number's other records; else alone."""
    protection = party.get("protection") or {}
    if protection.get("name_key_bi"):
        return protection["name_key_bi"]
    if protection.get("id_number_bi") and protection.get("id_number_valid"):
        return "id:" + protection["id_number_bi"]
    return "rec:" + hashlib.sha256(record_key.encode()).hexdigest()[:16]


@lru_cache(maxsize=64)
def broadcast_keys(partitions: int) -> tuple[str, ...]:
    """One key per partition, each landing on its own partition under Kafka's default partitioner: how
    a record reaches every partition of a keyed topic."""
    found: dict[int, str] = {}
    candidate = 0
    while len(found) < partitions:
        key = f"all-{candidate}"
        found.setdefault(partition_for(key.encode(), partitions), key)
        candidate += 1
    return tuple(found[p] for p in range(partitions))
