"""The in-memory directories the access decision rests on — which cases are open and who their
parties are, consents, restrictions, person and thread merges — fed from the log: `DirectoryFeed`
replays the resolved-event, identity, consent and dispute topics from the beginning (never
committing, so a restart rebuilds them) and is drained before every decision, so a consent withdrawn
or a case closed on the log is honoured by the next request.
"""

from __future__ import annotations

import logging
import threading
import uuid

from consent.access.cases import InMemoryCaseDirectory
from consent.access.consents import ConsentStore
from consent.access.restrictions import RestrictionStore
from runtime.eventlog.base import Consumer, EventLog
from runtime.topics import CONSENT_TOPIC, DISPUTES_TOPIC, IDENTITY_TOPIC, RESOLVED_TOPIC
from schemas.wire import AvroCodec, default_codec
from streams.views.redirects import MergeMap

log = logging.getLogger("justlink.api")
FEED_GROUP = "justlink.api.directories"  # + a per-process suffix; never committed: every process replays
FEED_TOPICS = (RESOLVED_TOPIC, IDENTITY_TOPIC, CONSENT_TOPIC, DISPUTES_TOPIC)
# of the identity topic, what the directories apply; the rest (PersonLinked: most of the topic) is
# passed over by its schema id, undecoded — a command line without the server replays this feed each time
IDENTITY_APPLIED = frozenset({"PersonsMerged", "PersonSplit", "PersonErased"})


class DirectoryFeed:
    """Applies the log's case, restriction, merge and consent events to the in-memory directories."""

    def __init__(self, log: EventLog, cases: InMemoryCaseDirectory, restrictions: RestrictionStore,
                 consents: ConsentStore, codec: AvroCodec | None = None) -> None:
        self.cases, self.restrictions, self.consents = cases, restrictions, consents
        self.codec = codec or default_codec()
        self.applied = 0
        self.skipped = 0  # events the directories refused (named in the log, without values)
        # person and thread merges, flattened (retired -> live; live -> retired), so that a history
        # read needs no redirect queries: merges are few, and this feed sees every one of them
        self.persons = MergeMap()
        self.disputes = MergeMap()
        self._lock = threading.Lock()
        for topic in FEED_TOPICS:
            log.create_topic(topic)
        # a group of its own, so that two processes (a server and a CLI) never split the partitions
        group = f"{FEED_GROUP}.{uuid.uuid4().hex[:12]}"
        self._consumer: Consumer = log.consumer(group, list(FEED_TOPICS), from_beginning=True)

    def drain(self) -> int:
        """Apply whatever arrived since the last call; returns how many records were read."""
        read = 0
        with self._lock:
            while batch := self._consumer.poll(2000, timeout_s=0.0):
                read += len(batch)
                for record in batch:
                    self._apply(record.topic, record.value)
        return read

    def _apply(self, topic: str, value: bytes) -> None:
        try:
            if topic == IDENTITY_TOPIC and self.codec.event_type_of(value) not in IDENTITY_APPLIED:
                self.applied += 1
                return
            event_type, fields = self.codec.decode(value)
            if topic == RESOLVED_TOPIC and event_type == "EventResolved":
                source_type, source = self.codec.decode(fields["payload"])
                self.restrictions.apply_event(source_type, source)
                self.cases.apply_event(source_type, {**source, "person_ids": list(fields["person_ids"])})
            elif topic == IDENTITY_TOPIC and event_type == "PersonsMerged":
                self.cases.apply_event(event_type, fields)
                self.persons.merge(fields["retired_person_id"], fields["surviving_person_id"])
            elif topic == IDENTITY_TOPIC and event_type == "PersonSplit":
                self.persons.lift(fields["new_person_id"])   # a person given records back is live again
            elif topic == IDENTITY_TOPIC and event_type == "PersonErased":
                for person_id in fields["person_ids"]:  # as the projector does: no party of any case any more
                    self.cases.forget_party(person_id)
            elif topic == DISPUTES_TOPIC and event_type == "DisputeThreaded" and fields.get("merged_into"):
                self.disputes.merge(fields["dispute_id"], fields["merged_into"])
            elif topic == DISPUTES_TOPIC and event_type == "DisputeThreaded" \
                    and fields.get("previous_dispute_id") is not None:
                self.disputes.lift(fields["dispute_id"])     # a correction's thread is live again
            elif topic == CONSENT_TOPIC:
                self.consents.apply_event(event_type, fields)
            self.applied += 1
        except (ValueError, KeyError, TypeError) as exc:
            self.skipped += 1
            log.warning("directory feed: %s record skipped: %s", topic, type(exc).__name__)

    def person_ids(self, person_id: str) -> list[str]:
        """The live id of a person, then every retired id merged into it."""
        with self._lock:
            live = self.persons.live(person_id)
            return [live, *sorted(self.persons.retired(live))]

    def live_dispute(self, dispute_id: str) -> str:
        return self.disputes.live(dispute_id)

    def close(self) -> None:
        self._consumer.close()
