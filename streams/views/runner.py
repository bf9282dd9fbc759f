"""Drives the projector over the log: consume the view topics as group
`justlink-views`, insert, commit. At-least-once: a batch re-read after a crash is
inserted again, which the ReplacingMergeTree tables absorb."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from hub.eventlog.base import EventLog
from streams.views.projector import VIEW_TOPICS, ViewProjector

VIEWS_GROUP = "justlink-views"


@dataclass
class ProjectionStats:
    records: int = 0
    rows: int = 0
    seconds: float = 0.0


def run_projector(log: EventLog, projector: ViewProjector, *, group: str = VIEWS_GROUP, until_idle: bool = True,
                  stop: threading.Event | None = None, batch_size: int = 5000,
                  idle_timeout_s: float = 0.3) -> ProjectionStats:
    for topic in VIEW_TOPICS:
        log.create_topic(topic, 1 if topic.startswith("justlink.audit") else None)
    stats = ProjectionStats()
    started = time.perf_counter()
    consumer = log.consumer(group, list(VIEW_TOPICS))
    try:
        while not (stop and stop.is_set()):
            batch = consumer.poll(batch_size, timeout_s=idle_timeout_s)
            if not batch:
                if until_idle:
                    break
                continue
            stats.rows += projector.apply_records(batch)
            stats.records += len(batch)
            consumer.commit()
    finally:
        consumer.close()
    stats.seconds = time.perf_counter() - started
    return stats
