"""What the partitioned worker tells its operators: the lag of every partition it owns, going down to zero
as it works through a generated prefecture; the size of every partition's state (its snapshot, as written);
the series of a partition another worker took leaving its /metrics; and a /healthz that turns 503 when its
loop stalls or has ended. On the embedded log (the runner is the same on Kafka: the broker run of
test_runner_partitioned reads the same gauges from a live worker's /metrics)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from runtime.eventlog.base import TopicPartition
from runtime.eventlog.embedded import EmbeddedEventLog
from streams.pipeline import Pipeline
from streams.runners import metrics
from streams.runners.core import Handled
from streams.runners.liveness import Liveness
from streams.runners.log import LogRunner, ensure_topics
from streams.topology import StagedTopology
from tests.support.county import generated_and_published
from tests.support.faust_worker import agency_records

PERSONS = 400
PARTITIONS = 4


def lag_of(tp: TopicPartition) -> float | None:
    return REGISTRY.get_sample_value("justlink_stream_partition_lag_records",
                                     {"stage": metrics.PROCESSORS, "topic": tp.topic, "partition": str(tp.partition)})


def state_bytes_of(tp: TopicPartition) -> float | None:
    return REGISTRY.get_sample_value("justlink_stream_state_bytes",
                                     {"stage": metrics.PROCESSORS, "topic": tp.topic, "partition": str(tp.partition)})


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[tuple[str, bytes | None, bytes]]:
    _, data = generated_and_published(tmp_path_factory.mktemp("observability-county"), PERSONS, seed=3, counties=2)
    return agency_records(data)


def test_lag_per_partition_state_size_and_health_of_a_worker(rows, tmp_path: Path) -> None:
    log = EmbeddedEventLog(tmp_path / "log.db", default_partitions=PARTITIONS)
    topology = StagedTopology(Pipeline.default(), PARTITIONS)
    ensure_topics(log, topology, input_partitions=PARTITIONS, stage_partitions=PARTITIONS)
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
    for topic, key, value in rows:
        by_topic[topic].append((key, value))
    for topic, items in by_topic.items():
        log.append_many(topic, items)
    liveness = Liveness()
    runner = LogRunner(log, topology, tmp_path / "states", batch_size=100, tick_every_s=3600, liveness=liveness)
    seen: list[tuple[float, bool]] = []   # (the lag summed over the agency partitions, healthy) after each batch

    def after_batch(_: Handled) -> None:
        agency = [tp for tp in runner.states.states if tp.topic in by_topic]
        seen.append((sum(lag_of(tp) or 0 for tp in agency), liveness.healthy()))

    stats = runner.run(until_idle=True, idle_timeout_s=0.05, on_batch=after_batch)
    assert stats.events > len(rows)   # the agency events, then the stages' records

    lags = [lag for lag, _ in seen]
    assert lags[0] >= len(rows) - 100, "after the first batch of 100, the rest of the agency records are lag"
    assert lags[-1] == 0 and lags == sorted(lags, reverse=True), "the agency lag only goes down, to zero"
    assert all(healthy for _, healthy in seen), "healthy while it works"
    assert not liveness.healthy(), "the loop has ended: /healthz says so"

    owned = set(runner.states.states)
    assert owned == {TopicPartition(topic, p) for topic in topology.input_topics for p in range(PARTITIONS)}
    assert all(lag_of(tp) == 0 for tp in owned), "every partition caught up"
    for tp in owned:   # the snapshot the run ended with, as written (none for a partition that never had a record)
        snapshot = runner.states.path(tp)
        assert state_bytes_of(tp) == (snapshot.stat().st_size if snapshot.exists() else 0)
    stages = [tp for tp in owned if tp.topic in ("justlink.identity.in", "justlink.stories.in")
              and log.end_offsets(tp.topic).get(tp.partition)]
    assert stages and all(state_bytes_of(tp) > 0 for tp in stages), "every stage partition with records holds a state"
    story = max((tp for tp in stages if tp.topic == "justlink.stories.in"), key=state_bytes_of)
    assert state_bytes_of(story) > state_bytes_of(TopicPartition("justlink.consent", 0))

    runner.states.drop(story)   # a rebalance gave it to another worker
    assert state_bytes_of(story) is None and lag_of(story) is None
    log.close()


def test_healthz_turns_unhealthy_when_the_loop_stalls_or_ends() -> None:
    now = [1000.0]
    liveness = Liveness(stall_after_s=300, clock=lambda: now[0])
    now[0] += 300
    assert liveness.healthy(), "starting (imports, topics, the group join) counts as alive"
    now[0] += 1
    assert not liveness.healthy(), "no beat for longer than the stall limit"
    liveness.beat()
    assert liveness.healthy()
    liveness.ended()
    assert not liveness.healthy()
