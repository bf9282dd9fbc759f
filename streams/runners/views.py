"""Drives the projector over the log: consume the view topics as group
`justlink-views`, insert, commit. At-least-once: a batch re-read after a crash is
inserted again, which the ReplacingMergeTree tables absorb."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from runtime.eventlog.base import EventLog, TopicPartition
from runtime.topics import SINGLE_PARTITION_TOPICS
from streams.runners import metrics
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
        log.create_topic(topic, 1 if topic in SINGLE_PARTITION_TOPICS else None)
    stats = ProjectionStats()
    started = time.perf_counter()
    consumer = log.consumer(group, list(VIEW_TOPICS))
    lag = metrics.LagTracker(log, metrics.VIEWS, VIEW_TOPICS)
    positions: dict[TopicPartition, int] = dict(consumer.committed())
    try:
        while not (stop and stop.is_set()):
            batch = consumer.poll(batch_size, timeout_s=idle_timeout_s)
            if not batch:
                lag.update(positions, force=until_idle)
                if until_idle:
                    break
                continue
            batch_started = time.perf_counter()
            stats.rows += projector.apply_records(batch)
            stats.records += len(batch)
            consumer.commit()
            for record in batch:
                positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
            metrics.batch_done(metrics.VIEWS, batch, (), time.perf_counter() - batch_started)
            metrics.rows_written(metrics.VIEWS, projector.last_written)
            lag.update(positions)
    finally:
        consumer.close()
    stats.seconds = time.perf_counter() - started
    return stats
