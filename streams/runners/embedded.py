"""The embedded runner: drives a processor over the embedded log, in one process.

Exactly-once on the embedded log:
- the consumer returns records in the log's global append order, so processing is
  deterministic;
- each batch's outputs are appended and the group's offsets committed in ONE SQLite
  transaction (`append_and_commit`);
- the processor state lives in memory and is snapshotted (pickled, atomically renamed)
  together with the offsets it reflects, every few seconds;
- after a crash the runner restores the last snapshot, re-reads from the snapshot's
  offsets, and suppresses the outputs of records before the committed offsets — they
  were already published, and determinism makes them identical.
A record that cannot be decoded, or whose handling raises, goes to
`justlink.processors.deadletter` with the reason; the run goes on.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.eventlog.base import Record, TopicPartition
from hub.eventlog.embedded import EmbeddedEventLog
from schemas.wire import AvroCodec, default_codec
from streams.processor import DictState, Event, Output
from streams.runners import metrics

log = logging.getLogger("justlink.runner")
DEAD_LETTER_TOPIC = "justlink.processors.deadletter"


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
    def __init__(self, event_log: EmbeddedEventLog, handle: Callable[[Event, DictState], list[Output]],
                 input_topics: tuple[str, ...], state_path: Path, *, group: str = "justlink-processors",
                 codec: AvroCodec | None = None, batch_size: int = 2000, snapshot_every_s: float = 5.0,
                 output_topics: tuple[str, ...] = (),
                 tick: Callable[[int, DictState], list[Output]] | None = None, tick_every_s: float = 60.0) -> None:
        self.log = event_log
        self.handle = handle
        self.input_topics = input_topics
        self.state_path = Path(state_path)
        self.group = group
        self.codec = codec or default_codec()
        self.batch_size = batch_size
        self.snapshot_every_s = snapshot_every_s
        for topic in (*input_topics, *output_topics, DEAD_LETTER_TOPIC):
            self.log.create_topic(topic)
        self.tick = tick
        self.tick_every_s = tick_every_s
        self.state = DictState()
        self._snapshot_offsets: dict[TopicPartition, int] = {}
        self._suppress_below: dict[TopicPartition, int] = {}

    # -- snapshots -----------------------------------------------------------------------------
    def _restore(self, consumer) -> None:
        if self.state_path.exists():
            with self.state_path.open("rb") as fh:
                snap = pickle.load(fh)
            self.state.tables = snap["tables"]
            self._snapshot_offsets = {TopicPartition(t, p): o for (t, p), o in snap["offsets"].items()}
        committed = consumer.committed()
        for tp in consumer.assignment():
            start = self._snapshot_offsets.get(tp, 0)
            consumer.seek(tp, start)
            if committed.get(tp, 0) > start:
                self._suppress_below[tp] = committed[tp]

    def snapshot(self, offsets: dict[TopicPartition, int]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({"tables": self.state.tables,
                         "offsets": {(tp.topic, tp.partition): o for tp, o in offsets.items()}},
                        fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_path)
        self._snapshot_offsets = dict(offsets)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, *, until_idle: bool = True, stop: threading.Event | None = None,
            idle_timeout_s: float = 0.5, on_batch: Callable[[list[Output]], None] | None = None) -> RunStats:
        """Process until the inputs are drained (`until_idle`) or `stop` is set."""
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
                        break
                    if self.tick is not None and time.monotonic() - last_tick >= self.tick_every_s:
                        last_tick = time.monotonic()
                        self._publish_tick(positions, stats)
                    continue
                batch_started = time.perf_counter()
                outputs, dead = self._process(batch, stats)
                for record in batch:
                    positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
                rows = [(o.topic, o.key.encode(), self.codec.encode(o.event_type, o.record)) for o in outputs]
                rows += [(DEAD_LETTER_TOPIC, None, d) for _, d in dead]
                self.log.append_and_commit(rows, self.group, dict(positions))
                stats.outputs += len(outputs)
                metrics.batch_done(metrics.PROCESSORS, batch, [topic for topic, _, _ in rows],
                                   time.perf_counter() - batch_started, [topic for topic, _ in dead])
                lag.update(positions)
                if on_batch is not None:
                    on_batch(outputs)
                if time.monotonic() - last_snapshot >= self.snapshot_every_s:
                    self.snapshot(positions)
                    last_snapshot = time.monotonic()
            self.snapshot(positions)
        finally:
            consumer.close()
        stats.seconds = time.perf_counter() - started
        return stats

    def _publish_tick(self, positions: dict[TopicPartition, int], stats: RunStats) -> None:
        """Wall-clock work (deadline alerts) while idle; only in continuous runs, since its
        outputs depend on the time it runs."""
        outputs = self.tick(int(time.time() * 1000), self.state)
        if outputs:
            rows = [(o.topic, o.key.encode(), self.codec.encode(o.event_type, o.record)) for o in outputs]
            self.log.append_and_commit(rows, self.group, dict(positions))
            stats.outputs += len(outputs)

    def _process(self, batch: list[Record], stats: RunStats) -> tuple[list[Output], list[tuple[str, bytes]]]:
        """Outputs, and the dead letters as (input topic, letter)."""
        outputs: list[Output] = []
        dead: list[tuple[str, bytes]] = []
        for record in batch:
            tp = TopicPartition(record.topic, record.partition)
            suppress = record.offset < self._suppress_below.get(tp, -1)
            try:
                event_type, value = self.codec.decode(record.value)
                produced = self.handle(Event(event_type, value, record.topic, record.partition, record.offset,
                                             record.value),
                                       self.state)
            except Exception as exc:  # bad input never stops the run; it is kept with the reason
                log.warning("event dead-lettered", extra={"topic": record.topic, "offset": record.offset,
                                                          "error": type(exc).__name__})
                if not suppress:
                    dead.append((record.topic, _dead_letter(record, exc)))
                    stats.dead_lettered += 1
                continue
            stats.events += 1
            if suppress:
                stats.suppressed += len(produced)
            else:
                outputs.extend(produced)
        return outputs, dead


def _dead_letter(record: Record, exc: Exception) -> bytes:
    reason: dict[str, Any] = {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                              "error": type(exc).__name__, "reason": str(exc)[:500]}
    return json.dumps(reason, ensure_ascii=False).encode()
