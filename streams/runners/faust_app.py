"""The faust-streaming runner: the same `Pipeline.handle` as the embedded runner, over Kafka.

Two agents in one faust app (`justlink worker`):

1. **repartition** — stateless: reads every agency topic (`justlink.<agency>.events`, keyed by
   subject) and forwards each record, its wire bytes unchanged, to `justlink.pipeline.in`
   keyed by the county code of its envelope. Persons and disputes are resolved within a
   county, so one county is one partition's worth of work: the hub scales out by county
   (more counties -> more partitions of `justlink.pipeline.in` -> more workers), and all
   records that may match meet in the same task with the same state. Several counties may
   share a partition; they then share that partition's state (identity's name frequencies
   are counted per partition, not per hub).
2. **pipeline** — reads `justlink.pipeline.in` in batches, handles each event with
   `Pipeline.handle` against the partition's state, and publishes the outputs (Avro) to
   their topics with their keys. Undecodable records and records whose handling raises go
   to `justlink.processors.deadletter` with the reason, as in the embedded runner.

Delivery (the broker has no transactions, so at-least-once with these guarantees):
- per batch and partition: publish the outputs and wait for the broker's acks; then send the
  batch's write-set (every state key it changed, and the input offset it reflects) as ONE
  record to the state table's changelog partition and wait for its ack; then let faust ack
  the input records (faust flushes the producer before it commits offsets).
  So: committed offset <= state offset, and "in the state" implies "outputs published".
- after a crash faust recovers the state from the changelog (whole batches only, see
  faust_state.py) and re-delivers from the committed offset. Records below the state's
  offset are skipped (already applied, outputs already published); records at or above it
  are handled again from exactly the state they first saw, so their outputs — if they had
  been published before the crash — are published again identically (same event ids, same
  bytes): consumers de-duplicate by event id.
- the repartition agent is at-least-once too: after a crash it may forward a record twice.
  The state remembers the event ids it applied (`runner.seen`), and a second copy is skipped.
The committed offset and the state offset can therefore diverge only in one direction, and
neither direction loses or double-applies an event.

Each write-set is sent alone and awaited, so every changelog record is its own record batch:
Tansu answers ListOffsets(latest) with the last batch's base offset + 1, which faust's
recovery uses as the end of the changelog, and that is exact only for one-record batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT

from hub.topics import AGENCY_TOPICS, ALERTS_TOPIC, DISPUTES_TOPIC, IDENTITY_TOPIC, RESOLVED_TOPIC
from schemas.wire import AvroCodec, default_codec
from streams.pipeline import Pipeline
from streams.processor import Event
from streams.runners.faust_state import PartitionState, PartitionStates, write_set_key

log = logging.getLogger("justlink.faust")

APP_ID = "justlink-pipeline"
PIPELINE_IN_TOPIC = "justlink.pipeline.in"
DEAD_LETTER_TOPIC = "justlink.processors.deadletter"
OUTPUT_TOPICS = (IDENTITY_TOPIC, DISPUTES_TOPIC, RESOLVED_TOPIC, ALERTS_TOPIC)
STATE_TABLE = "state"
AGENCY_TOPIC_PARTITIONS = 4


def default_pipeline() -> Pipeline:
    """The pipeline the embedded hub runs too: identity -> disputes -> alerts."""
    from streams.alerts.processor import AlertsProcessor

    return Pipeline(alerts=AlertsProcessor())


@dataclass
class WorkerConfig:
    bootstrap_servers: Sequence[str]
    partitions: int = 4                 # of justlink.pipeline.in, the state changelog and the outputs
    datadir: Path = Path(".justlink/faust")
    app_id: str = APP_ID
    batch_size: int = 500
    batch_within_s: float = 0.1
    commit_interval_s: float = 1.0
    pipeline_factory: Callable[[], Pipeline] = field(default=default_pipeline)

    @property
    def changelog_topic(self) -> str:
        return f"{self.app_id}-{STATE_TABLE}-changelog"


def ensure_topics(config: WorkerConfig) -> None:
    """Create the topics the worker reads and writes, with their partition counts (a broker
    that auto-creates topics would pick its own count). Existing topics are left as they are."""
    from hub.eventlog.kafka import KafkaEventLog

    admin = KafkaEventLog(list(config.bootstrap_servers), client_id=f"{config.app_id}-admin")
    try:
        for topic in AGENCY_TOPICS:
            admin.create_topic(topic, AGENCY_TOPIC_PARTITIONS)
        for topic in (PIPELINE_IN_TOPIC, config.changelog_topic, *OUTPUT_TOPICS, DEAD_LETTER_TOPIC):
            admin.create_topic(topic, config.partitions)
    finally:
        admin.close()


def county_key(raw: bytes, codec: AvroCodec) -> bytes:
    """The repartition key of an agency record: its county code ("" when it has none or
    cannot be decoded; the pipeline dead-letters what it cannot decode)."""
    try:
        _, record = codec.decode(raw)
        return (record["envelope"]["source"].get("county_code") or "").encode()
    except Exception:  # noqa: BLE001 - bad input is the pipeline's to dead-letter
        return b""


def dead_letter(topic: str, partition: int, offset: int, exc: BaseException) -> bytes:
    reason: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset,
                              "error": type(exc).__name__, "reason": str(exc)[:500]}
    return json.dumps(reason, ensure_ascii=False).encode()


@dataclass
class BatchResult:
    rows: list[tuple[str, bytes | None, bytes]]   # (topic, key, value) to publish, in order
    write_set: bytes | None                        # None when the batch changed nothing
    next_offset: int = 0                           # the state's offset after the batch
    events: int = 0
    skipped: int = 0
    dead_lettered: int = 0


class BatchHandler:
    """The broker-free part of the pipeline agent: handle one partition's batch of input
    records against that partition's state; return what to publish and the write-set."""

    def __init__(self, states: PartitionStates, pipeline_factory: Callable[[], Pipeline],
                 codec: AvroCodec | None = None, topic: str = PIPELINE_IN_TOPIC) -> None:
        self.states = states
        self.pipeline_factory = pipeline_factory
        self.codec = codec or default_codec()
        self.topic = topic
        self._pipelines: dict[int, Pipeline] = {}

    def handle(self, partition: int, records: Iterable[tuple[int, bytes]]) -> BatchResult:
        state = self.states.get(partition)
        pipeline = self._pipelines.get(partition)
        if pipeline is None:
            pipeline = self._pipelines[partition] = self.pipeline_factory()
        result = BatchResult([], None)
        start = state.next_offset
        for offset, raw in records:
            if offset < state.next_offset:
                result.skipped += 1      # applied before a crash; its outputs were published then
                continue
            self._handle_one(pipeline, state, offset, raw, result)
            state.next_offset = offset + 1
        result.next_offset = state.next_offset
        if state.has_writes or state.next_offset != start:
            result.write_set = state.take_write_set()
        return result

    def _handle_one(self, pipeline: Pipeline, state: PartitionState, offset: int, raw: bytes,
                    result: BatchResult) -> None:
        try:
            event_type, record = self.codec.decode(raw)
            event = Event(event_type, record, self.topic, state.partition, offset, raw)
            if state.has_seen(event.event_id):
                result.skipped += 1      # a second copy forwarded by the repartition agent
                return
            outputs = pipeline.handle(event, state)
        except Exception as exc:  # noqa: BLE001 - bad input never stops the run; kept with the reason
            log.warning("event dead-lettered: topic %s partition %d offset %d: %s", self.topic,
                        state.partition, offset, type(exc).__name__)
            result.rows.append((DEAD_LETTER_TOPIC, None, dead_letter(self.topic, state.partition, offset, exc)))
            result.dead_lettered += 1
            return
        state.mark_seen(event.event_id, offset)
        result.events += 1
        result.rows.extend((o.topic, o.key.encode(), self.codec.encode(o.event_type, o.record)) for o in outputs)


class StateTable(faust.Table):
    """The faust table whose changelog carries the pipeline's write-sets. Recovery replays
    them into `states` (the table's own key/value store stays empty)."""

    states: PartitionStates

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"  # keys and write-sets are bytes; faust would default to json

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        for event in batch:
            if event.message.value is not None:
                self.states.get(event.message.partition).apply_write_set(event.message.value)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        topic = self.changelog_topic.get_topic_name()
        self.states.keep_only(tp.partition for tp in (*active_tps, *standby_tps) if tp.topic == topic)
        log.info("state recovered: %s", {p: s.next_offset for p, s in sorted(self.states.by_partition.items())})


@dataclass
class Throughput:
    """Logs the pipeline's rate every few seconds, counted from the first batch."""

    events: int = 0
    started: float = 0.0
    last_report: float = 0.0

    def add(self, events: int) -> None:
        now = time.monotonic()
        if not self.started:
            self.started = self.last_report = now
        self.events += events
        if now - self.last_report >= 5.0:
            self.last_report = now
            log.info("pipeline: %d events, %.0f events/s", self.events, self.events / (now - self.started))


def build_app(config: WorkerConfig) -> faust.App:
    """The faust app with its two agents and the state table."""
    app = faust.App(
        config.app_id,
        broker=[f"kafka://{server}" for server in config.bootstrap_servers],
        store="memory://",
        datadir=str(config.datadir),
        autodiscover=False,
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=2.0,
        broker_commit_interval=config.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=16 * 1024 * 1024,
        producer_acks=-1,
        web_enabled=False,
    )
    codec = default_codec()
    states = PartitionStates()
    handler = BatchHandler(states, config.pipeline_factory, codec)
    table = StateTable(app, name=STATE_TABLE, default=None, beacon=app.tables.beacon,
                       key_type=bytes, value_type=bytes, partitions=config.partitions)
    table.states = states
    app.tables.add(table)
    changelog = table.changelog_topic.get_topic_name()

    agency_topics = app.topic(*AGENCY_TOPICS, key_type=bytes, value_type=bytes, key_serializer="raw",
                              value_serializer="raw")
    pipeline_in = app.topic(PIPELINE_IN_TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                            value_serializer="raw", partitions=config.partitions)
    throughput = Throughput()

    @app.agent(agency_topics, name="repartition")
    async def repartition(stream: faust.Stream) -> None:
        async for events in stream.take_events(config.batch_size, within=config.batch_within_s):
            for event in events:
                raw = event.message.value
                await app.producer.send(PIPELINE_IN_TOPIC, county_key(raw, codec), raw, None, None, None)
            # no wait here: faust flushes the producer before it commits these offsets

    @app.agent(pipeline_in, name="pipeline")
    async def pipeline(stream: faust.Stream) -> None:
        async for events in stream.take_events(config.batch_size, within=config.batch_within_s):
            by_partition: dict[int, list[tuple[int, bytes]]] = {}
            for event in events:
                by_partition.setdefault(event.message.partition, []).append(
                    (event.message.offset, event.message.value))
            for partition, records in by_partition.items():
                try:
                    result = handler.handle(partition, records)
                    await _publish(app, result, changelog, partition)
                except Exception as exc:
                    # the state in memory may now be ahead of its changelog, and faust would
                    # go on reading: stop the worker; a restart recovers a consistent state
                    log.critical("pipeline batch on partition %d failed (%s); stopping the worker",
                                 partition, type(exc).__name__)
                    await app.crash(exc)
                    raise
                throughput.add(result.events)

    return app


async def _publish(app: faust.App, result: BatchResult, changelog: str, partition: int) -> None:
    producer = app.producer
    pending = [await producer.send(topic, key, value, None, None, None) for topic, key, value in result.rows]
    if pending:
        await asyncio.gather(*pending)
    if result.write_set is not None:
        await producer.send_and_wait(changelog, write_set_key(partition, result.next_offset), result.write_set,
                                     partition, None, None)


def run_worker(config: WorkerConfig, *, loglevel: str = "info") -> None:
    """Create the topics, then run the faust worker in this process until it is stopped."""
    config.datadir.mkdir(parents=True, exist_ok=True)
    ensure_topics(config)
    app = build_app(config)
    sys.argv = [sys.argv[0], "--datadir", str(config.datadir), "worker", "--loglevel", loglevel,
                "--without-web"]
    app.main()
