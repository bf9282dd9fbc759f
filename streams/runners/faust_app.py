"""The faust-streaming runner: the same `Pipeline.handle` as the embedded runner, over Kafka.

Two agents in one faust app (`justlink worker`):

1. **repartition** — reads every topic the pipeline declares as input (the agency topics, keyed
   by subject; the consent topic; the alerts topic, for acknowledgements made in the API) and
   forwards each record, its wire bytes unchanged, to `justlink.pipeline.in` keyed by the
   county code of its envelope. Persons and disputes are resolved within a county, so one
   county is one partition's worth of work: the hub scales out by county (more counties ->
   more partitions of `justlink.pipeline.in` -> more workers), and all records that may
   match meet in the same task with the same state. Several counties may share a partition;
   they then share that partition's state (identity's name frequencies are counted per
   partition, not per hub).
2. **pipeline** — reads `justlink.pipeline.in` in batches, handles each event with
   `Pipeline.handle` against the partition's state, and publishes the outputs (Avro) to
   their topics with their keys. What a record produces is decided by the runner core
   (streams/runners/core.py), the code the embedded runner calls too: undecodable records and
   records whose handling raises go to the pipeline's dead-letter topic with the reason.
3. **tick** — a timer that runs the pipeline's wall-clock work (deadline alerts) on every
   partition the worker holds, every `Pipeline.tick_every_s`, serialised with that partition's
   batches; its outputs and state changes are published like a batch's.

Delivery. The broker has no transactions, so: state exactly-once, outputs at-least-once.
- Per batch and partition the pipeline publishes the outputs and waits for the broker's
  acks, then sends the batch's write-set (every state key it changed, and the input offset
  the state now reflects) to the `state` table's changelog and waits for its ack. So "in the
  state" implies "outputs published".
- The state, not faust's committed offset, says where to read: records below the state's
  offset are skipped; a record above it (a hole) is never applied out of order — the agent
  seeks back to the state's offset (`Rewinds`). The repartition agent keeps its own progress
  (next offset per agency topic partition) the same way, in the `forwarder` table, written
  after the forwarded records are acknowledged.
  Why: faust-streaming 0.15.3 was seen, right after a worker starts, to drop records it had
  fetched and to ack them (so its commit passes them) — without the state as the reference
  those records were lost for good. A periodic check (`check_for_holes`) catches a hole
  with nothing delivered behind it (consumer position past the state's offset, no progress).
- After a crash faust recovers both tables from their changelogs (whole write-sets only, see
  faust_state.py). Records at or above the state's offset are handled again from exactly
  the state they first saw, so outputs that were published before the crash are published
  again identically (same event ids, same bytes): consumers de-duplicate by event id.
- A record the repartition agent forwarded twice (crash between its acks and its progress
  write) reaches the pipeline twice; the state remembers the event ids it applied
  (`runner.seen`) and skips the second copy.
`justlink.pipeline.in` must keep contiguous offsets (no compaction, no transactional writes).

Each changelog record is sent alone and awaited, so it is its own record batch: Tansu answers
ListOffsets(latest) with the last batch's base offset + 1, which faust's recovery uses as the
end of the changelog, and that is exact only for one-record batches.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT

from runtime.kafka_security import KafkaSecurity
from runtime.topics import PIPELINE_IN_TOPIC
from schemas.wire import AvroCodec, Headers, default_codec
from streams.pipeline import Pipeline
from streams.runners import metrics
from streams.runners.core import Handled, Row, RunnerCore
from streams.runners.faust_state import PartitionStates, write_set_records

log = logging.getLogger("justlink.faust")

APP_ID = "justlink-pipeline"
STATE_TABLE = "state"
FORWARDER_TABLE = "forwarder"
HOLE_CHECK_S = 2.0


@dataclass
class WorkerConfig:
    bootstrap_servers: Sequence[str]
    partitions: int = 4                 # of justlink.pipeline.in, the state changelog and the outputs
    agency_partitions: int = 4          # of the pipeline's input topics (agency, consent), and so of the
                                        # forwarder's changelog
    datadir: Path = Path(".justlink/faust")
    app_id: str = APP_ID
    batch_size: int = 500
    batch_within_s: float = 0.05
    commit_interval_s: float = 1.0
    pipeline_factory: Callable[[], Pipeline] = field(default=Pipeline.default)
    tick_every_s: float | None = None   # None: the pipeline's own interval
    security: KafkaSecurity = field(default_factory=KafkaSecurity)   # TLS / SASL to the brokers

    def changelog_topic(self, table: str = STATE_TABLE) -> str:
        return f"{self.app_id}-{table}-changelog"


def ensure_topics(config: WorkerConfig) -> None:
    """Create the topics the worker reads and writes, with their partition counts (a broker
    that auto-creates topics would pick its own count). Existing topics are left as they are."""
    from runtime.eventlog.kafka import KafkaEventLog

    topology = config.pipeline_factory()
    outputs = (PIPELINE_IN_TOPIC, config.changelog_topic(), *topology.output_topics, topology.dead_letter_topic)
    admin = KafkaEventLog(list(config.bootstrap_servers), client_id=f"{config.app_id}-admin", security=config.security)
    try:
        for topic in topology.input_topics:
            if topic not in outputs:
                admin.create_topic(topic, config.agency_partitions)
        admin.create_topic(config.changelog_topic(FORWARDER_TABLE), forwarder_partitions(config))
        for topic in outputs:
            admin.create_topic(topic, config.partitions)
    finally:
        admin.close()


def faust_credentials(security: KafkaSecurity) -> faust.types.auth.CredentialsT | None:
    """The settings' TLS / SASL as faust's broker credentials (None: plain text)."""
    if security.sasl:
        return faust.SASLCredentials(username=security.username, password=security.password,
                                          mechanism=security.sasl_mechanism, ssl_context=security.ssl_context())
    context = security.ssl_context()
    return faust.SSLCredentials(context) if context is not None else None


def forwarder_partitions(config: WorkerConfig) -> int:
    """The forwarder keeps its progress per input partition number, and its inputs include the
    alerts topic (an output, with `partitions` partitions) as well as the agency topics."""
    return max(config.agency_partitions, config.partitions)


def county_key(raw: bytes | None, codec: AvroCodec) -> bytes:
    """The repartition key of an agency record: its county code ("" when it has none or
    cannot be decoded; the pipeline dead-letters what it cannot decode)."""
    if raw is None:
        return b""
    try:
        _, record = codec.decode(raw)
        return (record["envelope"]["source"].get("county_code") or "").encode()
    except Exception:  # noqa: BLE001 - bad input is the pipeline's to dead-letter
        return b""


def message_headers(event: EventT) -> Headers:
    """The record's headers as (name, bytes) pairs, whichever shape faust hands them in."""
    headers = event.message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)


@dataclass
class BatchResult:
    rows: list[Row]                                # (topic, key, value, headers) to publish, in order
    write_set: bytes | None                        # None when the batch changed nothing
    next_offset: int = 0                           # the state's offset after the batch
    events: int = 0
    skipped: int = 0
    missing_from: int | None = None                # records from this offset on were not delivered
    dead_lettered: int = 0


class BatchHandler:
    """The broker-free part of the pipeline agent: handle one partition's batch of input
    records against that partition's state with the runner core; return what to publish and
    the write-set."""

    def __init__(self, states: PartitionStates, pipeline_factory: Callable[[], Pipeline],
                 codec: AvroCodec | None = None, topic: str = PIPELINE_IN_TOPIC) -> None:
        self.states = states
        self.pipeline_factory = pipeline_factory
        self.codec = codec or default_codec()
        self.topic = topic
        self._cores: dict[int, RunnerCore] = {}

    def core(self, partition: int) -> RunnerCore:
        core = self._cores.get(partition)
        if core is None:
            core = self._cores[partition] = RunnerCore(self.pipeline_factory(), self.codec)
        return core

    def handle(self, partition: int, records: Iterable[tuple[int, bytes, Headers]]) -> BatchResult:
        state = self.states.get(partition)
        core = self.core(partition)
        handled = Handled()
        result = BatchResult(handled.rows, None)
        start = state.next_offset
        for offset, raw, headers in records:
            if offset < state.next_offset:
                result.skipped += 1      # applied before a crash; its outputs were published then
                continue
            if offset > state.next_offset:
                result.missing_from = state.next_offset   # a hole: never apply out of order
                break
            core.handle(self.topic, partition, offset, raw, state, handled, headers=headers)
            state.next_offset = offset + 1
        result.events = handled.events
        result.skipped += handled.duplicates
        result.dead_lettered = len(handled.dead_letters)
        result.next_offset = state.next_offset
        if state.has_writes or state.next_offset != start:
            result.write_set = state.take_write_set()
        return result

    def tick(self, partition: int, now_ms: int) -> BatchResult:
        """The pipeline's wall-clock work on one partition's state (deadline alerts)."""
        state = self.states.get(partition)
        handled = Handled()
        self.core(partition).tick(now_ms, state, handled)
        result = BatchResult(handled.rows, None, state.next_offset)
        if state.has_writes:
            result.write_set = state.take_write_set()
        return result


class StateTable(faust.Table):
    """The faust table whose changelog carries the pipeline's write-sets. Recovery replays
    them into `states` (the table's own key/value store stays empty)."""

    states: PartitionStates

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"  # keys and write-sets are bytes; faust would default to json

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        for event in batch:
            if event.message.value is not None:
                self.states.get(event.message.partition).apply_record(event.message.value)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        topic = self.changelog_topic.get_topic_name()
        self.states.keep_only(tp.partition for tp in (*active_tps, *standby_tps) if tp.topic == topic)
        log.info("table %s recovered: %s", self.name,
                 {p: s.next_offset or s.tables.get("offsets") for p, s in sorted(self.states.by_partition.items())})


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
        broker_credentials=faust_credentials(config.security),
    )
    codec = default_codec()
    topology = config.pipeline_factory()
    states = PartitionStates()
    handler = BatchHandler(states, config.pipeline_factory, codec)
    changelog = _state_table(app, STATE_TABLE, states, config.partitions)
    forwarded = PartitionStates()   # input partition -> {"offsets": {input topic: next offset}}
    forwarder_changelog = _state_table(app, FORWARDER_TABLE, forwarded, forwarder_partitions(config))

    source_topics = app.topic(*topology.input_topics, key_type=bytes, value_type=bytes, key_serializer="raw",
                              value_serializer="raw")
    pipeline_in = app.topic(PIPELINE_IN_TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                            value_serializer="raw", partitions=config.partitions)
    throughput = Throughput()
    rewinds = Rewinds(app)

    @app.agent(source_topics, name="repartition")  # type: ignore[arg-type]  # faust types an agent's stream as StreamT, whose protocol lacks take_events; agents get a Stream
    async def repartition(stream: faust.Stream) -> None:
        async for batch in stream.take_events(config.batch_size, within=config.batch_within_s):
            by_partition: dict[int, list[EventT]] = {}
            for event in batch:
                by_partition.setdefault(event.message.partition, []).append(event)
            for partition, events in by_partition.items():
                await forward(partition, events)

    async def forward(partition: int, events: list[EventT]) -> None:
        """Forward in offset order per agency topic; the progress is a write-set too, sent once
        the forwarded records are acknowledged (so a hole can neither be forwarded over nor
        committed over)."""
        state = forwarded.get(partition)
        offsets = state.table("offsets")
        pending, holes = [], {}
        for event in events:
            topic, offset = event.message.topic, event.message.offset
            expected = offsets.get(topic)
            if topic in holes or (expected is not None and offset < expected):
                continue
            if expected is not None and offset > expected:
                holes[topic] = expected
                continue
            raw = event.message.value
            pending.append(await app.producer.send(PIPELINE_IN_TOPIC, county_key(raw, codec), raw, None, None,
                                                   list(message_headers(event)) or None))
            offsets[topic] = offset + 1
        try:
            if pending:
                await asyncio.gather(*pending)
            if state.has_writes:
                for topic, offset in list(offsets.items()):
                    offsets[topic] = offset   # the whole (tiny) table each time: one key, compactable
                await _send_write_set(app, forwarder_changelog, partition, 0, state.take_write_set())
        except Exception as exc:
            log.critical("forwarding agency partition %d failed (%s); stopping the worker", partition,
                         type(exc).__name__)
            await app.crash(exc)
            raise
        for topic, offset in holes.items():
            await rewinds.rewind(topic, partition, offset)

    def expected_offset(tp: TP) -> int | None:
        """The next offset the state says must be read from `tp` (None: no opinion yet)."""
        if tp.topic == PIPELINE_IN_TOPIC:
            return states.get(tp.partition).next_offset
        if tp.topic in topology.input_topics:
            return forwarded.get(tp.partition).table("offsets").get(tp.topic)
        return None

    @app.timer(interval=HOLE_CHECK_S)
    async def check_for_holes() -> None:
        """A hole with nothing behind it (faust committed and skipped everything from there
        on) shows no later record to the agents: look for a consumer position past the state's
        offset that has not moved for a while."""
        for tp in list(app.consumer.assignment()):
            expected = expected_offset(tp)
            if expected is None:
                continue
            position = await app.consumer.position(tp)
            if position is not None and position > expected and rewinds.stalled(tp, expected):
                await rewinds.rewind(tp.topic, tp.partition, expected)

    partition_locks: dict[int, asyncio.Lock] = {}

    def partition_lock(partition: int) -> asyncio.Lock:
        return partition_locks.setdefault(partition, asyncio.Lock())

    tick_every_s = config.tick_every_s or topology.tick_every_s
    last_batch: dict[int, float] = {}

    @app.timer(interval=tick_every_s)
    async def tick() -> None:
        """The pipeline's wall-clock work (deadline alerts) on every partition this worker holds that
        has been idle for a tick interval (as the embedded runner ticks while idle), serialised with
        the batches of that partition."""
        for partition in sorted(states.by_partition):
            if time.monotonic() - last_batch.get(partition, 0.0) < tick_every_s:
                continue
            async with partition_lock(partition):
                now_ms = int(time.time() * 1000)
                result = handler.tick(partition, now_ms)
                await _publish(app, result, changelog, partition, tag=f"tick{now_ms}")

    @app.agent(pipeline_in, name="pipeline")  # type: ignore[arg-type]  # faust types an agent's stream as StreamT, whose protocol lacks take_events; agents get a Stream
    async def pipeline(stream: faust.Stream) -> None:
        async for batch in stream.take_events(config.batch_size, within=config.batch_within_s):
            await handle_batch(batch)

    async def handle_batch(events: Sequence[EventT]) -> None:
        by_partition: dict[int, list[tuple[int, bytes, Headers]]] = {}
        for event in events:
            # a record without a value (a tombstone) is dead-lettered as not wire format
            by_partition.setdefault(event.message.partition, []).append(
                (event.message.offset, event.message.value or b"", message_headers(event)))
        for partition, records in by_partition.items():
            try:
                # in a thread, so that the event loop goes on fetching and forwarding meanwhile;
                # only this agent touches the states, one batch at a time
                async with partition_lock(partition):
                    last_batch[partition] = started = time.monotonic()
                    result = await asyncio.to_thread(handler.handle, partition, records)
                    await _publish(app, result, changelog, partition)
                    metrics.batch_counted(metrics.PROCESSORS, PIPELINE_IN_TOPIC, len(records),
                                          [row[0] for row in result.rows], time.monotonic() - started,
                                          result.dead_lettered)
            except Exception as exc:
                # the state in memory may now be ahead of its changelog, and faust would go
                # on reading: stop the worker; a restart recovers a consistent state
                log.critical("pipeline batch on partition %d failed (%s); stopping the worker",
                             partition, type(exc).__name__)
                await app.crash(exc)
                raise
            throughput.add(result.events)
            if result.missing_from is not None:
                await rewinds.rewind(PIPELINE_IN_TOPIC, partition, result.missing_from)

    return app


def _state_table(app: faust.App, name: str, states: PartitionStates, partitions: int) -> str:
    table = StateTable(app, name=name, default=None, beacon=app.tables.beacon, key_type=bytes, value_type=bytes,
                       partitions=partitions)
    table.states = states
    app.tables.add(table)
    return table.changelog_topic.get_topic_name()


class Rewinds:
    """Seeks a partition back to the first offset it did not deliver. faust was seen to drop
    records fetched while a rebalance or recovery settles (and to ack them, so its commit
    can pass them); the agents never apply records out of order, so they notice the hole,
    drop what is queued behind it, and read again from it."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.last: dict[tuple[str, int], tuple[int, float]] = {}
        self.seen: dict[TP, tuple[int, float]] = {}

    def stalled(self, tp: TP, expected: int) -> bool:
        """True when `expected` has not moved for HOLE_CHECK_S * 2 seconds."""
        now = time.monotonic()
        previous = self.seen.get(tp)
        if previous is None or previous[0] != expected:
            self.seen[tp] = (expected, now)
            return False
        return now - previous[1] >= HOLE_CHECK_S * 2

    async def rewind(self, topic: str, partition: int, offset: int) -> None:
        previous = self.last.get((topic, partition))
        if previous is not None and previous[0] == offset and time.monotonic() - previous[1] < 2.0:
            return  # under way
        self.last[(topic, partition)] = (offset, time.monotonic())
        log.warning("%s partition %d: records from offset %d were not delivered; reading them again",
                    topic, partition, offset)
        await self.app.consumer.seek(TP(topic, partition), offset)


async def _send_write_set(app: faust.App, changelog: str, partition: int, next_offset: int,
                          write_set: bytes, tag: str = "") -> None:
    for key, value in write_set_records(partition, next_offset, write_set, tag):
        await app.producer.send_and_wait(changelog, key, value, partition, None, None)


async def _publish(app: faust.App, result: BatchResult, changelog: str, partition: int, tag: str = "") -> None:
    producer = app.producer
    pending = [await producer.send(topic, key, value, None, None, list(headers) or None)
               for topic, key, value, headers in result.rows]
    if pending:
        await asyncio.gather(*pending)
    if result.write_set is not None:
        await _send_write_set(app, changelog, partition, result.next_offset, result.write_set, tag)


def run_worker(config: WorkerConfig, *, loglevel: str = "info") -> None:
    """Create the topics, then run the faust worker in this process until it is stopped."""
    config.datadir.mkdir(parents=True, exist_ok=True)
    ensure_topics(config)
    app = build_app(config)

    sys.argv = [sys.argv[0], "--datadir", str(config.datadir), "worker", "--loglevel", loglevel,
                "--without-web"]
    app.main()
