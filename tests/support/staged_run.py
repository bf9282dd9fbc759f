"""The partitioned deployment's topology (streams/topology.py) in one process: every topic partition a
queue, every input partition a state of its own, records routed to partitions by their keys as Kafka's
default partitioner does, and the partitions served in an order shuffled by a seed (each partition in
its own order). What `justlink worker` does on a broker, without the broker: fast enough to try many
fetch orders. The clock comes as ClockTicked records (where a deadline has passed) once every queue is drained."""

from __future__ import annotations

import random
from collections import deque

from runtime.eventlog.partitioner import partition_for
from runtime.topics import IDENTITY_IN_TOPIC, STORIES_IN_TOPIC
from streams.pipeline import Pipeline
from streams.processor import DictState
from streams.runners.core import Handled, RunnerCore
from streams.topology import StagedTopology
from tests.support.faust_worker import Outcome, outcome_of

Row = tuple[str, bytes | None, bytes]   # (topic, key, value)


def run_staged(rows: list[Row], *, seed: int, input_partitions: int = 4, stage_partitions: int = 4,
               tick_ms: int) -> Outcome:
    """`rows` (agency records, reviewers' decisions) through the staged topology, partitions served in the
    order `seed` shuffles; then the clock at `tick_ms` on every story partition, drained again."""
    topology = StagedTopology(Pipeline.default(), stage_partitions)
    core = RunnerCore(topology)
    rng = random.Random(seed)
    queues: dict[tuple[str, int], deque[bytes]] = {}
    offsets: dict[tuple[str, int], int] = {}
    states: dict[tuple[str, int], DictState] = {}
    published: dict[str, list[bytes]] = {}

    def partitions_of(topic: str) -> int:
        return stage_partitions if topic in (STORIES_IN_TOPIC, IDENTITY_IN_TOPIC) else input_partitions

    def put(topic: str, key: bytes | None, value: bytes) -> None:
        if topic not in topology.input_topics:
            return
        partition = partition_for(key, partitions_of(topic)) if key else rng.randrange(partitions_of(topic))
        queues.setdefault((topic, partition), deque()).append(value)

    def drain() -> None:
        while ready := sorted(tp for tp, queue in queues.items() if queue):
            tp = rng.choice(ready)
            handled = Handled()
            for _ in range(min(rng.randint(1, 40), len(queues[tp]))):
                offset = offsets.get(tp, 0)
                offsets[tp] = offset + 1
                core.handle(tp[0], tp[1], offset, queues[tp].popleft(), states.setdefault(tp, DictState()), handled)
            assert not handled.dead_letters, handled.dead_letters
            for topic, key, value, *_ in handled.rows:
                if topic not in (STORIES_IN_TOPIC, IDENTITY_IN_TOPIC):
                    published.setdefault(topic, []).append(value)
                put(topic, key, value)   # the stage topics, and the alerts topic (an input: acknowledgements)

    for topic, key, value in rows:
        put(topic, key, value)
    drain()
    clock = Handled()
    for partition in range(stage_partitions):
        core.add_outputs(topology.clock_records(tick_ms, partition, states.get((STORIES_IN_TOPIC, partition),
                                                                              DictState())), clock)
    for topic, key, value, *_ in clock.rows:
        put(topic, key, value)
    drain()
    return outcome_of(published)
