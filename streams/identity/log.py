"""The agency events of an event log, read from the beginning and decoded: what `justlink identity
train | explain | review` learn from (protected parties only; nothing is decrypted)."""

from __future__ import annotations

import uuid

from runtime.eventlog.base import EventLog
from runtime.topics import AGENCY_TOPICS
from schemas.wire import default_codec
from streams.processor import Event


def agency_events(log: EventLog, batch: int = 5000) -> list[Event]:
    codec = default_codec()
    consumer = log.consumer(f"identity-read-{uuid.uuid4().hex[:12]}", list(AGENCY_TOPICS), from_beginning=True)
    events: list[Event] = []
    try:
        while records := consumer.poll(batch, timeout_s=0.2):
            events.extend(Event(*codec.decode(r.value), r.topic, r.partition, r.offset, r.value) for r in records)
    finally:
        consumer.close()
    return events
