"""Prometheus metrics of the stream stages — the processors (embedded runner) and the view projector —
on the process's default registry, which the API's /metrics serves next to its own.

Labels are stage names and topic names only, never ids or values.

    justlink_stream_events_in_total{stage, topic}       records consumed
    justlink_stream_events_out_total{stage, topic}      records produced (views: rows written, per table)
    justlink_stream_dead_letters_total{stage, topic}    input records dead-lettered
    justlink_stream_lag_records{stage, topic}           records on an input topic not yet processed
    justlink_stream_partition_lag_records{stage, topic, partition}
                                                        the same for each partition a worker owns (its own
                                                        view: sum over the workers for the group's)
    justlink_stream_state_bytes{stage, topic, partition}
                                                        the size of a partition's state (its last snapshot)
    justlink_stream_batch_seconds{stage}                processing time of one batch
    justlink_stream_event_age_seconds{stage}            from a record's append to the end of its batch
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

from runtime.eventlog.base import EventLog, EventLogError, Record, TopicPartition

PROCESSORS = "processors"
VIEWS = "views"
LAG_EVERY_S = 5.0   # end offsets are cheap on the embedded log, a fetch per topic on Kafka: not every batch

EVENTS_IN = Counter("justlink_stream_events_in", "Records consumed by a stream stage", ["stage", "topic"])
EVENTS_OUT = Counter("justlink_stream_events_out", "Records (or view rows) produced by a stream stage",
                     ["stage", "topic"])
DEAD_LETTERS = Counter("justlink_stream_dead_letters", "Input records a stream stage dead-lettered",
                       ["stage", "topic"])
LAG = Gauge("justlink_stream_lag_records", "Records on an input topic not yet processed by the stage",
            ["stage", "topic"])
PARTITION_LAG = Gauge("justlink_stream_partition_lag_records",
                      "Records on an input partition this worker owns not yet processed by it",
                      ["stage", "topic", "partition"])
STATE_BYTES = Gauge("justlink_stream_state_bytes", "Size of the state of an input partition this worker owns "
                    "(its last snapshot)", ["stage", "topic", "partition"])
BATCH_SECONDS = Histogram("justlink_stream_batch_seconds", "Processing time of one batch", ["stage"],
                          buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
EVENT_AGE = Histogram("justlink_stream_event_age_seconds",
                      "Time from a record's append to the end of the batch that processed it", ["stage"],
                      buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0))


def batch_done(stage: str, records: list[Record], outputs: Iterable[str], seconds: float,
               dead_letters: Iterable[str] = ()) -> None:
    """Count a processed batch: its input records by topic, its outputs by topic (or table), its dead
    letters by input topic, how long it took, and how old its records were when it finished."""
    for topic, n in Tally(r.topic for r in records).items():
        EVENTS_IN.labels(stage, topic).inc(n)
    for topic, n in Tally(outputs).items():
        EVENTS_OUT.labels(stage, topic).inc(n)
    for topic, n in Tally(dead_letters).items():
        DEAD_LETTERS.labels(stage, topic).inc(n)
    BATCH_SECONDS.labels(stage).observe(seconds)
    now_ms = time.time() * 1000
    age = EVENT_AGE.labels(stage)
    for record in records:
        age.observe(max(0.0, (now_ms - record.timestamp_ms) / 1000))


def batch_counted(stage: str, topic: str, records: int, outputs: Iterable[str], seconds: float,
                  dead_letters: int = 0) -> None:
    """Count a batch of `records` from `topic` whose record timestamps are not at hand (the faust worker)."""
    EVENTS_IN.labels(stage, topic).inc(records)
    for out, n in Tally(outputs).items():
        EVENTS_OUT.labels(stage, out).inc(n)
    if dead_letters:
        DEAD_LETTERS.labels(stage, topic).inc(dead_letters)
    BATCH_SECONDS.labels(stage).observe(seconds)


def partition_lag(stage: str, positions: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]) -> None:
    """The lag of each partition a worker owns: its end as the consumer last saw it minus the next offset
    the worker will process (partitions whose end is not known yet keep their last value)."""
    for tp, position in positions.items():
        end = ends.get(tp)
        if end is not None:
            PARTITION_LAG.labels(stage, tp.topic, str(tp.partition)).set(max(0, end - position))


def state_size(stage: str, tp: TopicPartition, size: int) -> None:
    STATE_BYTES.labels(stage, tp.topic, str(tp.partition)).set(size)


def partition_gone(stage: str, tp: TopicPartition) -> None:
    """A partition another worker owns now: its series leave this worker's /metrics."""
    for gauge in (PARTITION_LAG, STATE_BYTES):
        try:
            gauge.remove(stage, tp.topic, str(tp.partition))
        except KeyError:
            pass


def rows_written(stage: str, rows_by_table: Mapping[str, int]) -> None:
    for table, n in rows_by_table.items():
        EVENTS_OUT.labels(stage, table).inc(n)


class LagTracker:
    """Per input topic, end offsets minus the stage's positions, refreshed at most every `every_s`."""

    def __init__(self, log: EventLog, stage: str, topics: Iterable[str], every_s: float = LAG_EVERY_S) -> None:
        self.log, self.stage, self.topics, self.every_s = log, stage, tuple(topics), every_s
        self._last = float("-inf")

    def update(self, positions: Mapping[TopicPartition, int], *, force: bool = False) -> None:
        if not force and time.monotonic() - self._last < self.every_s:
            return
        self._last = time.monotonic()
        for topic in self.topics:
            try:
                ends = self.log.end_offsets(topic)
            except EventLogError:
                continue  # the gauge keeps its last value; the stage itself reports the log's failure
            lag = sum(max(0, end - positions.get(TopicPartition(topic, p), 0)) for p, end in ends.items())
            LAG.labels(self.stage, topic).set(lag)
