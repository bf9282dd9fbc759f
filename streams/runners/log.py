"""The partitioned runner: a plain consumer-group worker over the event log (Kafka in production; the
embedded log in tests), driving the staged topology (streams/topology.py) with the runner core.

Start any number of `justlink worker`s with the same settings: the group shares the partitions of the
route, identity and story topics among them. Each input partition has a state of its own (the identity
graph of its names, the stories of its counties), kept in memory, snapshotted to the worker's data dir
with the offsets it reflects (runtime/statecodec.py: data only), and rebuilt from the log when a worker
is given a partition it holds no snapshot of (the log is the source of truth and keeps every record).

Delivery. Per batch the outputs are appended and acknowledged, then the group's offsets committed
(`Consumer.append_and_commit`: at-least-once on Kafka). A record re-read after a crash or a rebalance
is handled again against the state it first saw (snapshot + replay) and, when below the committed
offset, changes the state without publishing again (its outputs are on the log). The wall clock is a
record too (the topology's `clock_records`, appended to each story partition the worker owns when it is
idle), so that a partition rebuilt from the log makes the deadline decisions its last owner made and
published. A commit the group refuses while it rebalances is retried after the next poll. The answers do
not depend on the order the partitions are fetched in (each stage is order-independent; `--shuffle-fetches`
and streams/runners/shuffled.py make the fetch order random on purpose), so a rebalance or a crash
changes nothing but timing.

What it tells its operators (streams/runners/metrics.py, on /metrics): records in and out and the batch time,
the lag of every partition it owns (the consumer's last known end minus the next offset to process) and the
size of each partition's state (its last snapshot); /healthz answers 503 when its loop stalls or has ended
(streams/runners/liveness.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.eventlog.base import CommitRefused, Consumer, EventLog, Record, TopicPartition
from runtime.statecodec import StateCodecError, dumps, loads
from runtime.topics import STORIES_IN_TOPIC
from streams.processor import DictState
from streams.runners import metrics
from streams.runners.core import Handled, Row, RunnerCore, SnapshotPace
from streams.runners.liveness import Liveness
from streams.runners.shuffled import ShuffledFetches
from streams.topology import StagedTopology

log = logging.getLogger("justlink.worker")
GROUP = "justlink-pipeline"


@dataclass
class WorkerStats:
    events: int = 0
    outputs: int = 0
    suppressed: int = 0
    dead_lettered: int = 0
    rebuilt_partitions: int = 0
    seconds: float = 0.0
    first_output_s: float | None = None


class PartitionStates:
    """One state per input partition, with its snapshot file."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = Path(datadir)
        self.states: dict[TopicPartition, DictState] = {}
        self.snapshot_offsets: dict[TopicPartition, int] = {}

    def path(self, tp: TopicPartition) -> Path:
        return self.datadir / f"{tp.topic}-{tp.partition}.state"

    def restore(self, tp: TopicPartition) -> int:
        """Load the partition's snapshot; the offset to read from (0: rebuild from the log)."""
        state = DictState()
        offset = size = 0
        path = self.path(tp)
        if path.exists():
            try:
                blob = path.read_bytes()
                snap = loads(blob)
                state.tables, offset, size = snap["tables"], int(snap["offset"]), len(blob)
            except (StateCodecError, KeyError, TypeError, ValueError, OSError) as exc:
                log.warning("snapshot of %s partition %d refused (%s); rebuilding it from the log", tp.topic,
                            tp.partition, type(exc).__name__)
                state, offset, size = DictState(), 0, 0
        self.states[tp] = state
        self.snapshot_offsets[tp] = offset
        metrics.state_size(metrics.PROCESSORS, tp, size)
        return offset

    def snapshot(self, tp: TopicPartition, offset: int) -> None:
        if self.snapshot_offsets.get(tp) == offset:
            return
        self.datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(tp)
        tmp = path.with_suffix(".tmp")
        blob = dumps({"tables": self.states[tp].tables, "offset": offset})
        tmp.write_bytes(blob)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        self.snapshot_offsets[tp] = offset
        metrics.state_size(metrics.PROCESSORS, tp, len(blob))

    def drop(self, tp: TopicPartition) -> None:
        self.states.pop(tp, None)
        self.snapshot_offsets.pop(tp, None)
        metrics.partition_gone(metrics.PROCESSORS, tp)


class LogRunner:
    def __init__(self, event_log: EventLog, topology: StagedTopology, datadir: Path, *, group: str = GROUP,
                 batch_size: int = 2000, snapshot_every_s: float = 30.0, tick_every_s: float | None = None,
                 shuffle_seed: int | None = None, liveness: Liveness | None = None) -> None:
        self.log = event_log
        self.topology = topology
        self.core = RunnerCore(topology)
        self.states = PartitionStates(datadir)
        self.group = group
        self.batch_size = batch_size
        self.snapshot_every_s = snapshot_every_s
        self._snapshot_pace = SnapshotPace()
        self.tick_every_s = topology.tick_every_s if tick_every_s is None else tick_every_s
        self._suppress_below: dict[TopicPartition, int] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._uncommitted = False   # a commit the group refused (rebalancing): commit again when idle
        self.shuffle_seed = shuffle_seed   # interleave the fetched partitions at random (streams/runners/shuffled.py)
        self.liveness = liveness or Liveness()

    def run(self, *, until_idle: bool = False, stop: threading.Event | None = None, idle_timeout_s: float = 0.5,
            on_batch: Callable[[Handled], None] | None = None) -> WorkerStats:
        """Work until `stop` is set, or (`until_idle`) until a poll finds nothing new."""
        stats = WorkerStats()
        started = time.perf_counter()
        consumer = self.log.consumer(self.group, list(self.topology.input_topics))
        if self.shuffle_seed is not None:
            consumer = ShuffledFetches(consumer, self.shuffle_seed)
        last_snapshot = last_tick = time.monotonic()
        try:
            while not (stop and stop.is_set()):
                self.liveness.beat()
                self._follow_assignment(consumer, stats)
                batch = consumer.poll(self.batch_size, timeout_s=idle_timeout_s)
                # a rebalance inside the poll may have given us partitions whose records were fetched from
                # the committed offset: set them up (snapshot, seek) and leave their records to the next poll
                fresh = self._follow_assignment(consumer, stats)
                batch = [r for r in batch if TopicPartition(r.topic, r.partition) in self.states.states
                         and TopicPartition(r.topic, r.partition) not in fresh]
                if not batch:
                    metrics.partition_lag(metrics.PROCESSORS, self._positions, consumer.end_offsets())
                    if self._uncommitted:
                        self._publish(consumer, [])
                    if until_idle:
                        break
                    if time.monotonic() - last_tick >= self.tick_every_s:
                        last_tick = time.monotonic()
                        self._tick(consumer, stats)
                    continue
                batch_started = time.perf_counter()
                handled = self._process(batch, stats)
                for record in batch:
                    self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
                self._publish(consumer, handled.rows)
                if handled.rows and stats.first_output_s is None:
                    stats.first_output_s = time.perf_counter() - started
                stats.outputs += len(handled.outputs)
                metrics.batch_done(metrics.PROCESSORS, batch, [row[0] for row in handled.rows],
                                   time.perf_counter() - batch_started, handled.dead_letters)
                metrics.partition_lag(metrics.PROCESSORS, self._positions, consumer.end_offsets())
                self.liveness.beat()
                if on_batch is not None:
                    on_batch(handled)
                if time.monotonic() - last_snapshot >= self._snapshot_pace.interval(self.snapshot_every_s):
                    with self._snapshot_pace.timed():
                        self._snapshot_all()
                    last_snapshot = time.monotonic()
            self._snapshot_all()
        finally:
            self.liveness.ended()
            consumer.close()
        stats.seconds = time.perf_counter() - started
        return stats

    # -- partitions coming and going -------------------------------------------------------------------
    def _follow_assignment(self, consumer: Consumer, stats: WorkerStats) -> set[TopicPartition]:
        """Drop the states of partitions taken away; restore (snapshot, or rebuild from offset 0) and seek
        those given. Returns the partitions set up now."""
        assigned = set(consumer.assignment())
        for tp in [tp for tp in self.states.states if tp not in assigned]:
            self.states.drop(tp)          # another worker has it now; our snapshot stays for next time
            self._positions.pop(tp, None)
            self._suppress_below.pop(tp, None)
        new = [tp for tp in assigned if tp not in self.states.states]
        if not new:
            return set()
        committed = consumer.committed()
        for tp in sorted(new, key=lambda t: (t.topic, t.partition)):
            start = self.states.restore(tp)
            if start == 0 and committed.get(tp, 0) > 0:
                stats.rebuilt_partitions += 1
            consumer.seek(tp, start)
            self._positions[tp] = start
            if committed.get(tp, 0) > start:
                self._suppress_below[tp] = committed[tp]
        return set(new)

    # -- work --------------------------------------------------------------------------------------------
    def _process(self, batch: list[Record], stats: WorkerStats) -> Handled:
        handled = Handled()
        states = self.states.states
        for record in batch:
            tp = TopicPartition(record.topic, record.partition)
            state = states[tp]
            suppress = record.offset < self._suppress_below.get(tp, -1)
            events_before = handled.events
            self.core.handle(record.topic, record.partition, record.offset, record.value, state, handled,
                             publish=not suppress, headers=record.headers)
            if suppress and handled.events > events_before:
                stats.suppressed += 1
        stats.events += handled.events
        stats.dead_lettered += len(handled.dead_letters)
        return handled

    def _tick(self, consumer: Consumer, stats: WorkerStats) -> None:
        """The wall clock onto each story partition this worker owns where a deadline has passed, as a
        record it reads back."""
        handled = Handled()
        now = int(time.time() * 1000)
        for tp in sorted(self.states.states, key=lambda t: (t.topic, t.partition)):
            if tp.topic == STORIES_IN_TOPIC:
                self.core.add_outputs(self.topology.clock_records(now, tp.partition, self.states.states[tp]), handled)
        if handled.rows:
            self._publish(consumer, handled.rows)
            stats.outputs += len(handled.outputs)

    def _publish(self, consumer: Consumer, rows: list[Row]) -> None:
        """Append the outputs, then commit the positions. A commit the group refuses while it rebalances
        is not an error: the outputs are on the log, and the records are read again (their outputs
        suppressed below the committed offset, or published again with the same event ids) by whoever
        owns their partitions next — this worker commits again once it has polled."""
        try:
            consumer.append_and_commit(rows, dict(self._positions))
            self._uncommitted = False
        except CommitRefused as exc:
            log.warning("%s; the records will be committed after the rebalance", exc)
            self._uncommitted = True

    def _snapshot_all(self) -> None:
        for tp in list(self.states.states):
            position = self._positions.get(tp)
            if position is not None:
                self.states.snapshot(tp, position)


def ensure_topics(event_log: EventLog, topology: StagedTopology, *, input_partitions: int,
                  stage_partitions: int) -> None:
    """Create the topics a worker reads and writes with their partition counts (a broker that creates
    topics on first use would choose its own). Existing topics are left as they are."""
    from runtime.topics import SINGLE_PARTITION_TOPICS

    for topic in topology.pipeline.input_topics:
        event_log.create_topic(topic, input_partitions)
    for topic in (*topology.output_topics, topology.dead_letter_topic):
        if topic not in SINGLE_PARTITION_TOPICS and topic not in topology.pipeline.input_topics:
            event_log.create_topic(topic, stage_partitions)


def run_worker(event_log: EventLog, datadir: Path, *, input_partitions: int, stage_partitions: int,
               batch_size: int = 2000, tick_every_s: float | None = None,
               stop: threading.Event | None = None, model_dir: Path | None = None,
               shuffle_seed: int | None = None, liveness: Liveness | None = None) -> WorkerStats:
    """`justlink worker`: create the topics, then work until `stop` (SIGTERM / SIGINT) is set."""
    from streams.pipeline import Pipeline

    topology = StagedTopology(Pipeline.default(model_dir), stage_partitions)
    ensure_topics(event_log, topology, input_partitions=input_partitions, stage_partitions=stage_partitions)
    runner = LogRunner(event_log, topology, datadir, batch_size=batch_size, tick_every_s=tick_every_s,
                       shuffle_seed=shuffle_seed, liveness=liveness)
    return runner.run(stop=stop)
