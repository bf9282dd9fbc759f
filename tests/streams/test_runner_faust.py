"""The faust runner (`justlink worker --engine faust`, kept for single-county deployments; the default
engine is the partitioned one, tests/streams/test_runner_partitioned.py) end to end: a generated county
published to a real Kafka-protocol broker (Tansu), the worker run as a child process, the persons,
threads and alerts read back from the output topics. (Its SIGKILL test is gone: faust 0.15's recovery
after a kill stalled in 1 of 4 runs on a loaded machine — the changelogs restored, then no record
processed — which no fix of ours could make deterministic; the partitioned engine's kill test replaces it.)

Input order. The repartition agent interleaves the 16 agency partitions into
justlink.pipeline.in in whatever order it fetches them, so each run (and each restart) may
feed the pipeline another order, and the processors' results depend on the order: ids
always, and thread clusterings too (in this county one 13-event thread — police incident,
referral, mediation, legal aid, two court cases — becomes two threads when the legal-aid
events come first). What an uninterrupted run yields for a given order is what the embedded
(exactly-once) runner yields for it, so every faust run is checked exactly (ids included)
against the embedded runner fed the order the worker saw: the first copy of each event in
justlink.pipeline.in. Person clusterings, which do not depend on the order here, are also
compared with the embedded runner on the connectors' order and with the uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.topics import ALERTS_TOPIC, PIPELINE_IN_TOPIC, RESOLVED_TOPIC
from schemas.wire import default_codec
from streams.pipeline import Pipeline
from streams.runners import faust_state
from streams.runners.faust_app import BatchHandler
from streams.runners.faust_state import PartitionStates, write_set_records
from tests.support.faust_worker import (
    OUTCOME_TOPICS,
    Outcome,
    ResolvedProgress,
    TopicReader,
    agency_records,
    clustering,
    copy_to_kafka,
    embedded_outcome,
    first_occurrences,
    kafka_outcome,
    open_alerts,
    outcome_of,
    publish_county_embedded,
    start_worker,
    stop,
    with_open_mediations,
)
from tests.support.kafka_broker import TansuBroker

PERSONS = 1500
BATCH = 50          # small batches: many batch boundaries for the kills to fall around


class Published:
    def __init__(self, rows: list[tuple[str, bytes | None, bytes]], reference: Outcome) -> None:
        self.rows = rows
        self.reference = reference     # the embedded runner on the connectors' order


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Published:
    base = tmp_path_factory.mktemp("faust-county")
    rows = with_open_mediations(agency_records(publish_county_embedded(base, PERSONS, seed=9)))
    return Published(rows, embedded_outcome([value for _, _, value in rows], base / "reference"))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of the test's own: the topic names are fixed, so runs must not share one."""
    with TansuBroker(log_path=tmp_path / "tansu.log") as tansu:
        yield tansu


def worker_run(published: Published, broker: TansuBroker, work: Path) -> tuple[Outcome, list[bytes], int]:
    """Publish, run one worker until every event is resolved, stop it. Returns the outcome,
    the order the pipeline saw, and the number of records in justlink.pipeline.in."""
    copy_to_kafka(published.rows, broker.bootstrap)
    child = start_worker(broker.bootstrap, work, work / "worker.log", batch_size=BATCH)
    progress = ResolvedProgress(TopicReader(broker.bootstrap, [RESOLVED_TOPIC]))
    try:
        progress.wait_for(len(published.rows), timeout_s=90, child=child)
        await_deadline_alerts(broker, child, work / "expected")
    finally:
        stop(child)
        progress.reader.close()
    return read_back(broker)


def await_deadline_alerts(broker: TansuBroker, child, work: Path, timeout_s: float = 60.0) -> None:
    """Once every event is resolved, wait (on progress, not time) until the worker's clock has raised
    the open alerts the embedded runner raises on the same order with a tick when drained."""
    _, order, _ = read_back(broker)
    expected = set(open_alerts(embedded_outcome(order, work)))
    by_events = set(open_alerts(embedded_outcome(order, work.with_name(work.name + "-no-tick"), tick=False)))
    assert len(expected - by_events) >= 3, "the pending mediations (at least) are raised by the clock alone"
    deadline = time.monotonic() + timeout_s
    reader = TopicReader(broker.bootstrap, [ALERTS_TOPIC])
    try:
        while not expected <= set(open_alerts(outcome_of({ALERTS_TOPIC: reader.values(ALERTS_TOPIC)}))):
            assert time.monotonic() < deadline, "the worker did not raise the deadline alerts in time"
            assert child.poll() is None, f"the worker exited with code {child.returncode}"
            reader.poll()
    finally:
        reader.close()


def read_back(broker: TansuBroker) -> tuple[Outcome, list[bytes], int]:
    """The outcome, the agency records in the order the pipeline read them (first copies), and how
    many agency records were forwarded (the pipeline also reads back its own alerts topic, whose
    records change nothing but acknowledgements: they are left out of the order)."""
    reader = TopicReader(broker.bootstrap, [*OUTCOME_TOPICS, PIPELINE_IN_TOPIC])
    codec = default_codec()
    try:
        outcome = kafka_outcome(reader)
        forwarded = [value for value in reader.values(PIPELINE_IN_TOPIC)
                     if codec.decode(value)[1]["envelope"]["source"]["agency"] != "hub"]
        return outcome, first_occurrences(forwarded), len(forwarded)
    finally:
        reader.close()


def assert_same_as_embedded(got: Outcome, order: list[bytes], published: Published, work: Path) -> None:
    assert sorted(order) == sorted(value for _, _, value in published.rows), "every agency event, once"
    same_order = embedded_outcome(order, work)
    assert got.persons == same_order.persons
    assert got.threads == same_order.threads
    assert got.decision_ids == same_order.decision_ids
    assert open_alerts(got) == open_alerts(same_order), "the same alerts, deadline alerts included"
    assert got.conflicting == 0, "a decision published twice must be the same bytes"
    assert clustering(got.persons) == clustering(published.reference.persons)
    print(f"thread clusters differing from the connectors' order: {threads_differing(got, published.reference)}")


def threads_differing(got: Outcome, other: Outcome) -> int:
    return len(clustering(got.threads) ^ clustering(other.threads))


@pytest.fixture(scope="module")
def uninterrupted(published: Published, tmp_path_factory) -> tuple[Outcome, list[bytes], int]:
    work = tmp_path_factory.mktemp("faust-uninterrupted")
    with TansuBroker(log_path=work / "tansu.log") as tansu:
        started = time.perf_counter()
        result = worker_run(published, tansu, work)
        print(f"uninterrupted faust run: {len(published.rows)} events in {time.perf_counter() - started:.1f} s "
              "(worker start included)")
    return result


def test_write_sets_recover_the_state_of_whole_batches(published: Published, monkeypatch):
    """Broker-free: the state rebuilt from a partition's changelog records is the state after
    the last whole write-set (a write-set cut by a crash between its parts is ignored); a
    batch redone on it publishes the same bytes; applied records and second copies of an
    event are skipped."""
    monkeypatch.setattr(faust_state, "CHUNK_BYTES", 4096)
    records = [(offset, row[2], ()) for offset, row in enumerate(published.rows[:300])]
    live = BatchHandler(PartitionStates(), Pipeline.default)
    changelog, results = [], []
    for start in range(0, 300, 100):
        result = live.handle(0, records[start:start + 100])
        changelog.append([value for _, value in write_set_records(0, result.next_offset, result.write_set)])
        results.append(result)
    assert [r.events for r in results] == [100, 100, 100]
    assert min(len(parts) for parts in changelog) > 2, "the write-sets travel in several parts"

    def recover(parts: list[bytes]) -> PartitionStates:
        states = PartitionStates()
        for value in parts:
            states.get(0).apply_record(value)
        return states

    def tables(states: PartitionStates) -> dict:
        return {name: table for name, table in states.get(0).tables.items() if table}

    after_two = recover(changelog[0] + changelog[1])
    cut = recover(changelog[0] + changelog[1] + changelog[2][:2])   # killed between the parts of batch 3
    assert tables(cut) == tables(after_two) and cut.get(0).next_offset == 200
    resent = recover(changelog[0] + changelog[1] + changelog[2][:2] + changelog[2])
    assert tables(resent) == tables(live.states), "batch 3 re-sent whole after the restart"

    again = BatchHandler(after_two, Pipeline.default)
    redone = again.handle(0, records[100:300])      # faust re-delivers from an older commit
    assert redone.skipped == 100 and redone.events == 100
    assert redone.rows == results[2].rows, "a redone batch publishes exactly what it published before"
    assert tables(after_two) == tables(live.states)

    duplicate = again.handle(0, [(300, records[5][1], ())])   # the repartition agent forwarded it twice
    assert duplicate.skipped == 1 and duplicate.rows == [] and after_two.get(0).next_offset == 301


@pytest.mark.kafka
def test_faust_worker_gives_the_embedded_runners_persons_threads_and_alerts(published: Published, uninterrupted,
                                                                    tmp_path: Path):
    got, order, forwarded = uninterrupted
    assert len(published.rows) > 1000
    assert forwarded == len(published.rows)
    assert got.duplicates == 0
    assert len(set(got.persons.values())) > 300 and len(set(got.threads.values())) > 100
    assert_same_as_embedded(got, order, published, tmp_path / "embedded")
