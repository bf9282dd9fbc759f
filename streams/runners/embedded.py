"""The embedded runner: drives a processor over the embedded log, in one process.

Exactly-once on the embedded log:
- the consumer returns records in the log's global append order, so processing is
  deterministic;
- each batch's outputs are appended and the group's offsets committed in ONE SQLite
  transaction (`append_and_commit`);
- the processor state lives in memory and is snapshotted (runtime/statecodec.py: data only,
  never pickle; atomically renamed) together with the offsets it reflects, every few seconds; a
  snapshot that does not decode is refused (kept aside as *.refused) and the state is rebuilt from
  the log;
- after a crash the runner restores the last snapshot, re-reads from the snapshot's
  offsets, and suppresses the outputs of records before the committed offsets — they
  were already published, and determinism makes them identical.
What a record produces is decided by the runner core (streams/runners/core.py), the same code the
faust runner calls; a record that cannot be decoded, or whose handling raises, goes to the
pipeline's dead-letter topic with the reason, and the run goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime import statecodec
from runtime.datadir import private_dir
from runtime.eventlog.base import Consumer, Record, TopicPartition
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.statecodec import StateCodecError
from schemas.wire import AvroCodec
from streams.pipeline import Pipeline
from streams.processor import DictState, Output
from streams.runners import metrics
from streams.runners.core import Handled, RunnerCore, SnapshotPace

log = logging.getLogger("justlink.runner")


@dataclass
class RunStats:
    events: int = 0
    outputs: int = 0
    suppressed: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class EmbeddedRunner:
    def __init__(self, event_log: EmbeddedEventLog, pipeline: Pipeline, state_path: Path, *,
                 group: str = "justlink-processors", codec: AvroCodec | None = None, batch_size: int = 2000,
                 snapshot_every_s: float = 5.0, tick_every_s: float | None = None,
                 input_topics: tuple[str, ...] | None = None) -> None:
        """`input_topics` replaces the pipeline's own inputs only in a comparison harness that
        replays another runner's input (the faust worker's `justlink.pipeline.in`) in its order."""
        self.log = event_log
        self.pipeline = pipeline
        self.core = RunnerCore(pipeline, codec)
        self.codec = self.core.codec
        self.input_topics = input_topics or pipeline.input_topics
        self.state_path = Path(state_path)
        self.group = group
        self.batch_size = batch_size
        self.snapshot_every_s = snapshot_every_s
        self._snapshot_pace = SnapshotPace()
        for topic in (*self.input_topics, *pipeline.output_topics, pipeline.dead_letter_topic):
            self.log.create_topic(topic)
        self.tick_every_s = pipeline.tick_every_s if tick_every_s is None else tick_every_s
        self.state = DictState()
        self._snapshot_offsets: dict[TopicPartition, int] = {}
        self._suppress_below: dict[TopicPartition, int] = {}

    # -- snapshots -----------------------------------------------------------------------------
    def _restore(self, consumer: Consumer) -> None:
        if self.state_path.exists():
            try:
                snap = statecodec.loads(self.state_path.read_bytes())
                tables = snap["tables"]
                offsets = {TopicPartition(t, p): int(o) for t, p, o in snap["offsets"]}
                if not isinstance(tables, dict):
                    raise StateCodecError("the snapshot's tables are not a mapping")
            except (StateCodecError, KeyError, TypeError, ValueError) as exc:
                refused = self.state_path.with_name(self.state_path.name + ".refused")
                os.replace(self.state_path, refused)
                log.error("processor snapshot %s refused (%s); kept as %s — rebuilding the state from the log",
                          self.state_path, exc, refused.name)
                tables, offsets = {}, {}
            self.state.tables = tables
            self._snapshot_offsets = offsets
        committed = consumer.committed()
        for tp in consumer.assignment():
            start = self._snapshot_offsets.get(tp, 0)
            consumer.seek(tp, start)
            if committed.get(tp, 0) > start:
                self._suppress_below[tp] = committed[tp]

    def snapshot(self, offsets: dict[TopicPartition, int]) -> None:
        private_dir(self.state_path.parent)
        tmp = self.state_path.with_suffix(".tmp")
        data = statecodec.dumps({"tables": self.state.tables,
                                 "offsets": [[tp.topic, tp.partition, o] for tp, o in offsets.items()]})
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_path)
        self._snapshot_offsets = dict(offsets)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, *, until_idle: bool = True, stop: threading.Event | None = None,
            idle_timeout_s: float = 0.5, on_batch: Callable[[list[Output]], None] | None = None,
            tick_when_drained: bool = False) -> RunStats:
        """Process until the inputs are drained (`until_idle`) or `stop` is set. In continuous runs
        the pipeline's `tick` runs every `tick_every_s` while the inputs are idle; a run until idle
        ticks once, when drained, if `tick_when_drained` (deadline alerts by the clock)."""
        stats = RunStats()
        started = time.perf_counter()
        consumer = self.log.consumer(self.group, list(self.input_topics))
        self._restore(consumer)
        positions: dict[TopicPartition, int] = {tp: consumer.position(tp) for tp in consumer.assignment()}
        last_snapshot = last_tick = time.monotonic()
        lag = metrics.LagTracker(self.log, metrics.PROCESSORS, self.input_topics)
        try:
            while not (stop and stop.is_set()):
                batch = consumer.poll(self.batch_size, timeout_s=idle_timeout_s)
                if not batch:
                    lag.update(positions, force=until_idle)
                    if until_idle:
                        if tick_when_drained:
                            self._publish_tick(consumer, positions, stats)
                        break
                    if time.monotonic() - last_tick >= self.tick_every_s:
                        last_tick = time.monotonic()
                        self._publish_tick(consumer, positions, stats)
                    continue
                batch_started = time.perf_counter()
                handled = self._process(batch, stats)
                for record in batch:
                    positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
                consumer.append_and_commit(handled.rows, dict(positions))
                stats.outputs += len(handled.outputs)
                metrics.batch_done(metrics.PROCESSORS, batch, [row[0] for row in handled.rows],
                                   time.perf_counter() - batch_started, handled.dead_letters)
                lag.update(positions)
                if on_batch is not None:
                    on_batch(handled.outputs)
                if time.monotonic() - last_snapshot >= self._snapshot_pace.interval(self.snapshot_every_s):
                    with self._snapshot_pace.timed():
                        self.snapshot(positions)
                    last_snapshot = time.monotonic()
            self.snapshot(positions)
        finally:
            consumer.close()
        stats.seconds = time.perf_counter() - started
        return stats

    def _publish_tick(self, consumer: Consumer, positions: dict[TopicPartition, int], stats: RunStats) -> None:
        """Wall-clock work (deadline alerts) while idle; only in continuous runs, since its
        outputs depend on the time it runs."""
        handled = Handled()
        self.core.tick(int(time.time() * 1000), self.state, handled)
        if handled.rows:
            consumer.append_and_commit(handled.rows, dict(positions))
            stats.outputs += len(handled.outputs)

    def _process(self, batch: list[Record], stats: RunStats) -> Handled:
        """Handle a batch; records below the committed offsets (re-read after a crash) change the
        state again but publish nothing: their outputs are on the log already."""
        handled = Handled()
        for record in batch:
            suppress = record.offset < self._suppress_below.get(TopicPartition(record.topic, record.partition), -1)
            before = len(handled.outputs), handled.events
            self.core.handle(record.topic, record.partition, record.offset, record.value, self.state, handled,
                             publish=not suppress, headers=record.headers)
            if suppress and handled.events > before[1]:
                stats.suppressed += 1
        stats.events += handled.events
        stats.dead_lettered += len(handled.dead_letters)
        return handled
