"""The partitioned deployment gives the embedded runner's answers: the same generated county through the
embedded runner and through `justlink worker` (the staged topology on consumer groups) on the suite's
Kafka-protocol broker — one worker, two workers, a worker SIGKILLed mid-run — with the agency topics'
partitions interleaved differently each time: persons (ids included), dispute threads (ids included)
and open alerts (deadline alerts by the clock included) are identical every time."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.eventlog.kafka import KafkaEventLog
from runtime.topics import AGENCY_TOPICS, ALERTS_TOPIC, RESOLVED_TOPIC
from streams.pipeline import Pipeline
from tests.support.faust_worker import (
    Outcome,
    ResolvedProgress,
    TopicReader,
    agency_records,
    clustering,
    embedded_outcome,
    kafka_outcome,
    kill,
    open_alerts,
    outcome_of,
    publish_county_embedded,
    start_worker,
    stop,
    with_open_mediations,
)
from tests.support.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka

PERSONS = 1500
STAGE_PARTITIONS = 4


class County:
    def __init__(self, rows: list[tuple[str, bytes | None, bytes]], reference: Outcome) -> None:
        self.rows = rows
        self.reference = reference     # the embedded runner on the connectors' order, a tick at the end


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> County:
    base = tmp_path_factory.mktemp("partitioned-county")
    rows = with_open_mediations(agency_records(publish_county_embedded(base, PERSONS, seed=9)))
    reference = embedded_outcome([value for _, _, value in rows], base / "reference")
    assert len(open_alerts(reference)) > 20 and len(set(reference.threads.values())) > 100
    return County(rows, reference)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(log_path=tmp_path / "tansu.log") as tansu:
        yield tansu


def publish_interleaved(rows: list[tuple[str, bytes | None, bytes]], bootstrap: str, seed: int) -> None:
    """The agency records on the broker, each topic partition in its own order, the partitions
    interleaved at random (what fetches from several brokers look like)."""
    log = KafkaEventLog(bootstrap, default_partitions=4)
    try:
        for topic in AGENCY_TOPICS:
            log.create_topic(topic, 4)
        for topic in Pipeline.output_topics:
            log.create_topic(topic, 1)   # one order to read the decisions back in
        by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
        for topic, key, value in rows:
            by_topic.setdefault(topic, []).append((key, value))
        rng = random.Random(seed)
        queues = {topic: list(items) for topic, items in by_topic.items()}
        while queues:
            topic = rng.choice(sorted(queues))
            n = rng.randint(1, 40)
            take, queues[topic] = queues[topic][:n], queues[topic][n:]
            log.append_many(topic, take)
            if not queues[topic]:
                del queues[topic]
    finally:
        log.close()


def outcome_on(broker: TansuBroker) -> Outcome:
    reader = TopicReader(broker.bootstrap, [t for t in ("justlink.identity", "justlink.disputes", RESOLVED_TOPIC,
                                                        ALERTS_TOPIC)])
    try:
        return kafka_outcome(reader)
    finally:
        reader.close()


def wait_until_done(broker: TansuBroker, county: County, children: list) -> None:
    """Every agency event resolved, then every open alert of the reference raised (the clock's
    deadline alerts come from the workers' ticks): driven by progress, failing on a timeout."""
    progress = ResolvedProgress(TopicReader(broker.bootstrap, [RESOLVED_TOPIC]))
    try:
        progress.wait_for(len(county.rows), timeout_s=180, child=children[0])
    finally:
        progress.reader.close()
    expected = len(open_alerts(county.reference))
    reader = TopicReader(broker.bootstrap, [ALERTS_TOPIC])
    deadline = time.monotonic() + 60
    try:
        while len(open_alerts(outcome_of({ALERTS_TOPIC: reader.values(ALERTS_TOPIC)}))) < expected:
            assert time.monotonic() < deadline, "the workers did not raise the reference's alerts in time"
            assert all(child.poll() is None for child in children), "a worker exited"
            reader.poll()
    finally:
        reader.close()


def assert_same(got: Outcome, reference: Outcome) -> None:
    assert got.persons.keys() == reference.persons.keys()
    differing = [k for k in reference.persons if got.persons[k] != reference.persons[k]]
    assert not differing, f"{len(differing)} occurrences resolved to another person"
    assert clustering(got.threads) == clustering(reference.threads), "dispute threads differ"
    assert len(open_alerts(got)) == len(open_alerts(reference)), "a different number of alerts is open"


def worker(broker: TansuBroker, data: Path, log: Path):
    return start_worker(broker.bootstrap, data, log, partitions=STAGE_PARTITIONS, batch_size=200,
                        tick_every_s=1.0, engine="partitioned")


def test_one_worker_gives_the_embedded_answers(county: County, broker: TansuBroker, tmp_path: Path):
    publish_interleaved(county.rows, broker.bootstrap, 1)
    child = worker(broker, tmp_path / "w1", tmp_path / "w1.log")
    try:
        wait_until_done(broker, county, [child])
    finally:
        stop(child)
    assert_same(outcome_on(broker), county.reference)


def test_two_workers_and_a_kill_give_the_embedded_answers(county: County, broker: TansuBroker, tmp_path: Path):
    publish_interleaved(county.rows, broker.bootstrap, 3)
    first = worker(broker, tmp_path / "w1", tmp_path / "w1.log")
    second = worker(broker, tmp_path / "w2", tmp_path / "w2.log")
    progress = ResolvedProgress(TopicReader(broker.bootstrap, [RESOLVED_TOPIC]))
    try:
        progress.wait_for(len(county.rows) // 3, timeout_s=180, child=first)
    finally:
        progress.reader.close()
    kill(second)   # SIGKILL mid-run: its partitions move to the first worker, which rebuilds them
    third = worker(broker, tmp_path / "w3", tmp_path / "w3.log")
    try:
        wait_until_done(broker, county, [first, third])
    finally:
        stop(first)
        stop(third)
    assert_same(outcome_on(broker), county.reference)
