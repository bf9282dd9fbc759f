"""The partitioned deployment gives the embedded runner's answers: the same generated prefecture (two
counties of 驻马店市, with people who moved from one to the other) through the embedded runner and through
`justlink worker --engine partitioned` (the staged topology on consumer groups) on the suite's
Kafka-protocol broker — one worker, two workers with one SIGKILLed mid-run — each worker fetching the
partitions in an order shuffled by its seed (`--shuffle-fetches`). Every time, exactly: the person of
every party occurrence (ids included), the thread and stage of every event (ids included), and every open
alert with what the views show of it (rule, level, role, person, thread, evidence, time, message)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.eventlog.kafka import KafkaEventLog
from runtime.topics import AGENCY_TOPICS, RESOLVED_TOPIC
from schemas.wire import default_codec
from streams.pipeline import Pipeline
from streams.runners.log import GROUP
from streams.topology import StagedTopology
from tests.support.county import generated_and_published
from tests.support.faust_worker import (
    OUTCOME_TOPICS,
    Outcome,
    ResolvedProgress,
    TopicReader,
    agency_records,
    assert_same_answers,
    embedded_outcome,
    group_lag,
    kafka_outcome,
    kill,
    open_alert_details,
    start_worker,
    stop,
    with_open_mediations,
    worker_events_in,
)
from tests.support.kafka_broker import TansuBroker, free_port

pytestmark = pytest.mark.kafka

PERSONS = 1500
COUNTIES = 2
STAGE_PARTITIONS = 4
WORKER_INPUTS = StagedTopology(Pipeline(), STAGE_PARTITIONS).input_topics


class Prefecture:
    def __init__(self, rows: list[tuple[str, bytes | None, bytes]], reference: Outcome) -> None:
        self.rows = rows
        self.reference = reference     # the embedded runner on the connectors' order, a tick at the end


@pytest.fixture(scope="module")
def prefecture(tmp_path_factory) -> Prefecture:
    base = tmp_path_factory.mktemp("partitioned-prefecture")
    _, data = generated_and_published(base, PERSONS, seed=9, counties=COUNTIES)
    rows = with_open_mediations(agency_records(data))
    reference = embedded_outcome([value for _, _, value in rows], base / "reference")
    assert len(open_alert_details(reference)) > 20 and len(set(reference.threads.values())) > 100
    county_of = {}
    for _, _, value in rows:
        envelope = default_codec().decode(value)[1]["envelope"]
        county_of[envelope["event_id"]] = envelope["source"]["county_code"]
    counties_of: dict[str, set[str]] = {}
    for record_key, person in reference.persons.items():
        counties_of.setdefault(person, set()).add(county_of[record_key.rsplit("#", 1)[0]])
    assert len(set(county_of.values())) == COUNTIES
    assert sum(len(c) == COUNTIES for c in counties_of.values()) > 10, "too few persons known in both counties"
    return Prefecture(rows, reference)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(log_path=tmp_path / "tansu.log") as tansu:
        yield tansu


def publish(rows: list[tuple[str, bytes | None, bytes]], bootstrap: str) -> None:
    """The agency records on the broker (4 partitions per agency topic, each partition in the agency's
    order); the outputs on one partition each, so that reading them back gives one order."""
    log = KafkaEventLog(bootstrap, default_partitions=4)
    try:
        for topic in AGENCY_TOPICS:
            log.create_topic(topic, 4)
        for topic in Pipeline.output_topics:
            log.create_topic(topic, 1)
        by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
        for topic, key, value in rows:
            by_topic.setdefault(topic, []).append((key, value))
        for topic, items in by_topic.items():
            for start in range(0, len(items), 1000):
                log.append_many(topic, items[start:start + 1000])
    finally:
        log.close()


def worker(broker: TansuBroker, tmp_path: Path, name: str, seed: int, metrics_port: int = 0):
    return start_worker(broker.bootstrap, tmp_path / name, tmp_path / f"{name}.log", partitions=STAGE_PARTITIONS,
                        batch_size=200, tick_every_s=1.0, engine="partitioned", shuffle_seed=seed,
                        metrics_port=metrics_port)


def wait_until_done(broker: TansuBroker, prefecture: Prefecture, children: list) -> Outcome:
    """Every agency event resolved; then the group caught up on every topic it reads (corrections that
    identity changes cause on other partitions come after the last EventResolved) with every open alert
    of the reference raised (the clock's deadline alerts come from the workers' ticks). Driven by
    progress, failing on a timeout."""
    progress = ResolvedProgress(TopicReader(broker.bootstrap, [RESOLVED_TOPIC]))
    try:
        progress.wait_for(len(prefecture.rows), timeout_s=300, child=children[0])
    finally:
        progress.reader.close()
    expected = set(open_alert_details(prefecture.reference))
    reader = TopicReader(broker.bootstrap, list(OUTCOME_TOPICS))
    deadline = time.monotonic() + 120
    try:
        while True:
            assert all(child.poll() is None for child in children), "a worker exited"
            lag = group_lag(broker.bootstrap, GROUP, WORKER_INPUTS)
            reader.read_to_idle()
            got = kafka_outcome(reader)
            if lag == 0 and set(open_alert_details(got)) >= expected and group_lag(broker.bootstrap, GROUP, WORKER_INPUTS) == 0:
                return kafka_outcome(reader)
            if time.monotonic() > deadline:
                return got   # assert_same says what differs
    finally:
        reader.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_one_worker_gives_the_embedded_answers(prefecture: Prefecture, broker: TansuBroker, tmp_path: Path,
                                               seed: int):
    publish(prefecture.rows, broker.bootstrap)
    port = free_port()
    child = worker(broker, tmp_path, "w1", seed, metrics_port=port)
    try:
        got = wait_until_done(broker, prefecture, [child])
        caught_up_metrics(port, child)
    finally:
        stop(child)
    assert_same_answers(got, prefecture.reference)


def caught_up_metrics(port: int, child) -> None:
    """The worker's /metrics once it has seen the end of every partition it owns (waited for by progress:
    its gauges follow its polls): promtool-clean, a lag of 0 and a state size for every partition of the
    agency and stage topics, and /healthz 200. (The values of the state sizes: tests/streams/test_worker_observability.py.)"""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from tests.support.promtool import check_metrics

    partitions = {(topic, str(p)) for topic in (*AGENCY_TOPICS, "justlink.identity.in", "justlink.stories.in")
                  for p in range(STAGE_PARTITIONS)}   # those that hold records: the end of an empty one is not known
    deadline = time.monotonic() + 60
    while True:
        assert child.poll() is None, "the worker exited"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples = {family.name: {(s.labels["topic"], s.labels["partition"]): s.value for s in family.samples}
                   for family in text_string_to_metric_families(text)
                   if family.name in ("justlink_stream_partition_lag_records", "justlink_stream_state_bytes")}
        lag = samples.get("justlink_stream_partition_lag_records", {})
        if set(lag) >= partitions and not any(lag.values()):
            break
        assert time.monotonic() < deadline, f"lag per partition not at 0 within 60 s: {lag}"
        time.sleep(0.2)   # polling interval of a progress wait
    check_metrics(text, "the partitioned worker's /metrics")
    assert set(samples["justlink_stream_state_bytes"]) >= partitions   # the size of the last snapshot (0: none yet)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        assert response.status == 200


@pytest.mark.parametrize("seed", [3, 4])
def test_two_workers_and_a_kill_give_the_embedded_answers(prefecture: Prefecture, broker: TansuBroker,
                                                          tmp_path: Path, seed: int):
    publish(prefecture.rows, broker.bootstrap)
    port = free_port()
    first = worker(broker, tmp_path, "w1", 10 * seed + 1)
    second = worker(broker, tmp_path, "w2", 10 * seed + 2, metrics_port=port)
    progress = ResolvedProgress(TopicReader(broker.bootstrap, [RESOLVED_TOPIC]))
    try:   # the kill lands mid-run: the group a third of the way through, the victim with work of its own done
        progress.wait_for(len(prefecture.rows) // 3, timeout_s=240, child=first)
        worker_events_in(port, at_least=500, timeout_s=120, child=second)
    finally:
        progress.reader.close()
    kill(second)   # SIGKILL: its partitions move to the others, which rebuild them from snapshots and the log
    third = worker(broker, tmp_path, "w3", 10 * seed + 3)
    try:
        got = wait_until_done(broker, prefecture, [first, third])
    finally:
        stop(first)
        stop(third)
    assert_same_answers(got, prefecture.reference)
