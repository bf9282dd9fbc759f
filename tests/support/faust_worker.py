"""Helpers for the faust runner's tests: publish a generated county to Kafka, run
`justlink worker` as a child process, read the outcome back from the output topics, and
compute the embedded runner's outcome on a given sequence of input records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from connectors.registry import get_connector
from connectors.sdk import ConnectorRunner, ConnectorState
from connectors.synthetic.generator import generate
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.eventlog.kafka import KafkaEventLog
from runtime.topics import (
    AGENCIES,
    AGENCY_TOPICS,
    ALERTS_TOPIC,
    DISPUTES_TOPIC,
    IDENTITY_TOPIC,
    PIPELINE_IN_TOPIC,
    RESOLVED_TOPIC,
)
from schemas.wire import default_codec
from streams.pipeline import Pipeline
from streams.runners.embedded import EmbeddedRunner
from streams.views.redirects import MergeMap

ROOT = Path(__file__).resolve().parents[2]
OUTCOME_TOPICS = (IDENTITY_TOPIC, DISPUTES_TOPIC, RESOLVED_TOPIC, ALERTS_TOPIC)


def publish_county_embedded(base: Path, persons: int, seed: int) -> Path:
    """A data dir whose embedded log holds a generated county published by the four connectors."""
    county, data = base / "county", base / "data"
    generate(county, persons, seed=seed)
    data.mkdir(parents=True)
    init_keystore(data)
    keystore = open_keystore(data)
    log = EmbeddedEventLog(data / "log.db")
    state = ConnectorState(data / "connectors.db")
    try:
        for agency in AGENCIES:
            connector = get_connector(agency)
            runner = ConnectorRunner(connector, log, Protector(keystore), state, progress=False)
            for source in connector.sources(county):
                runner.run(source)
    finally:
        log.close()
        state.close()
        keystore.close()
    return data


def with_open_mediations(rows: list[tuple[str, bytes | None, bytes]], count: int = 3
                         ) -> list[tuple[str, bytes | None, bytes]]:
    """The county as of a day after its last mediation intake: the `count` latest mediation cases are
    re-dated to the day before the county's last event and their conclusions left out, so their 30-day
    deadlines are still pending when the stream ends — only the clock (a runner's tick) can raise them.
    The re-dated records go last, in the order they had."""
    codec = default_codec()
    decoded = [(topic, key, value, *codec.decode(value)) for topic, key, value in rows]
    last = max(record["envelope"]["occurred_at"] for *_, record in decoded)
    openings = sorted((d for d in decoded if d[3] == "MediationCaseOpened"),
                      key=lambda d: d[4]["envelope"]["occurred_at"])[-count:]
    cases = {d[4]["mediation_case_number"] for d in openings}
    kept, moved = [], []
    for topic, key, value, event_type, record in decoded:
        if event_type == "MediationConcluded" and record["mediation_case_number"] in cases:
            continue
        if event_type == "MediationCaseOpened" and record["mediation_case_number"] in cases:
            envelope = {**record["envelope"], "occurred_at": last - timedelta(days=1),
                        "recorded_at": last - timedelta(days=1)}
            moved.append((topic, key, codec.encode(event_type, {**record, "envelope": envelope})))
            continue
        kept.append((topic, key, value))
    return kept + moved


def agency_records(data: Path) -> list[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) of every agency record, in the embedded log's append order."""
    log = EmbeddedEventLog(data / "log.db")
    consumer = log.consumer("export", list(AGENCY_TOPICS))
    rows = []
    while batch := consumer.poll(5000, timeout_s=0.2):
        rows.extend((r.topic, r.key, r.value) for r in batch)
    consumer.close()
    log.close()
    return rows


def copy_to_kafka(rows: list[tuple[str, bytes | None, bytes]], bootstrap: str, *,
                  output_partitions: int = 1) -> None:
    """Publish the agency records (same bytes, same keys) to the broker. The output topics
    are created first with `output_partitions` so that reading them back gives one order."""
    log = KafkaEventLog(bootstrap, default_partitions=4)
    try:
        for topic in AGENCY_TOPICS:
            log.create_topic(topic, 4)
        for topic in Pipeline.output_topics:
            log.create_topic(topic, output_partitions)
        by_topic: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
        for topic, key, value in rows:
            by_topic[topic].append((key, value))
        for topic, items in by_topic.items():
            for start in range(0, len(items), 500):
                log.append_many(topic, items[start:start + 500])
    finally:
        log.close()


def start_worker(bootstrap: str, data_dir: Path, log_path: Path, partitions: int = 2,
                 batch_size: int = 500, tick_every_s: float = 1.0, engine: str = "faust",
                 env: dict[str, str] | None = None, shuffle_seed: int | None = None,
                 metrics_port: int = 0) -> subprocess.Popen:
    """`justlink --data-dir DATA worker --engine ENGINE` in a child process, output appended to `log_path`;
    `env` adds settings. `shuffle_seed`: the partitioned engine's fetches interleaved by that seed
    (`--shuffle-fetches`). Its metrics endpoint is on `metrics_port` (0: off; see `worker_events_in`)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUSTLINK_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "JUSTLINK_LOG_BACKEND": "kafka", "JUSTLINK_CONFIG": str(data_dir / "absent.toml"),
           "JUSTLINK_WORKER_METRICS_PORT": str(metrics_port), **(env or {})}
    shuffle = ["--shuffle-fetches", str(shuffle_seed)] if shuffle_seed is not None else []
    with log_path.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "hub.cli.main", "--data-dir", str(data_dir), "worker",
                                 "--engine", engine, "--partitions", str(partitions), "--batch-size", str(batch_size),
                                 "--tick-every", str(tick_every_s), *shuffle,
                                 "--loglevel", "info"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def worker_events_in(port: int, at_least: int, timeout_s: float, child: subprocess.Popen) -> int:
    """Wait until the worker serving /metrics on `port` has handled `at_least` input records (its
    justlink_stream_events_in_total, every topic); fails on the timeout or when the worker exits."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    handled = 0
    while True:
        assert child.poll() is None, f"the worker exited with code {child.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text = response.read().decode()
            handled = int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                              if line.startswith("justlink_stream_events_in_total{")))
        except (urllib.error.URLError, OSError):
            handled = 0   # not serving yet
        if handled >= at_least:
            return handled
        assert time.monotonic() < deadline, f"the worker handled {handled} of {at_least} records within {timeout_s:g} s"
        time.sleep(0.2)   # polling interval of a progress wait, not a wait for an outcome


def group_lag(bootstrap: str, group: str, topics: Iterable[str]) -> int:
    """Records on `topics` (every partition) that `group` has not committed as processed."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        committed = admin.list_group_offsets({group: partitions})[group]
        ends = consumer.end_offsets(partitions)
        return sum(max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                   for tp in partitions)
    finally:
        consumer.close()
        admin.close()


def kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait(10)


def stop(child: subprocess.Popen, grace_s: float = 5.0) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(grace_s)
        except subprocess.TimeoutExpired:
            kill(child)


class TopicReader:
    """Reads topics from the beginning, every partition, with no consumer group."""

    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                      fetch_max_wait_ms=100, max_partition_fetch_bytes=8 * 1024 * 1024)
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(self.consumer.partitions_for_topic(t))]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning()
        self.records: dict[TopicPartition, list] = defaultdict(list)

    def poll(self, timeout_ms: int = 200) -> int:
        got = 0
        for tp, records in self.consumer.poll(timeout_ms=timeout_ms, max_records=50_000).items():
            self.records[tp].extend(records)
            got += len(records)
        return got

    def read_to_idle(self, idle_polls: int = 3) -> None:
        quiet = 0
        while quiet < idle_polls:
            quiet = 0 if self.poll() else quiet + 1

    def values(self, topic: str) -> list[bytes]:
        """The values of `topic`, partition after partition, each in offset order."""
        return [r.value for tp in sorted(self.records, key=lambda tp: tp.partition) if tp.topic == topic
                for r in self.records[tp]]

    def close(self) -> None:
        self.consumer.close(autocommit=False)


@dataclass
class ResolvedProgress:
    """Distinct agency events resolved so far, as seen on justlink.resolved."""

    reader: TopicReader
    refs: set[str] = field(default_factory=set)

    def update(self) -> int:
        codec = default_codec()
        if self.reader.poll(100):
            self.refs = {codec.decode(v)[1]["event_ref"] for v in self.reader.values(RESOLVED_TOPIC)}
        return len(self.refs)

    def wait_for(self, count: int, timeout_s: float, child: subprocess.Popen | None = None) -> int:
        deadline = time.monotonic() + timeout_s
        while self.update() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.refs)} of {count} events resolved within {timeout_s:g} s")
            if child is not None and child.poll() is not None:
                raise AssertionError(f"the worker exited with code {child.returncode}")
        return len(self.refs)


def first_occurrences(values: Iterable[bytes]) -> list[bytes]:
    """Records in order with later copies of the same event id dropped (consumer de-duplication)."""
    codec = default_codec()
    seen: set[str] = set()
    kept = []
    for value in values:
        event_id = codec.decode(value)[1]["envelope"]["event_id"]
        if event_id not in seen:
            seen.add(event_id)
            kept.append(value)
    return kept


@dataclass
class Outcome:
    persons: dict[str, str]           # record key -> live person
    threads: dict[str, str]           # event id -> live thread
    decision_ids: set[str]            # of identity, dispute and resolved events (alerts apart: see open_alerts)
    alerts: dict[str, str] = field(default_factory=dict)   # alert id -> its last status (raised, or a resolution)
    duplicates: int = 0               # records of an event id seen before (at-least-once)
    conflicting: int = 0              # duplicates whose bytes differ from the first copy (must be 0)
    stages: dict[str, str] = field(default_factory=dict)   # event id -> its stage on its thread
    raised: dict[str, tuple] = field(default_factory=dict)  # alert id -> what its last AlertRaised says (see below)


def outcome_of(streams: dict[str, list[bytes]]) -> Outcome:
    """Persons and threads from the decisions, each topic's records in order, de-duplicated by
    event id (as the views do): record -> live person following PersonsMerged and PersonSplit; event -> the thread of
    its latest DisputeThreaded, following merged_into as flattened redirects (a correction, with
    previous_dispute_id, makes its thread live again)."""
    codec = default_codec()
    linked, placed, alerts, stages, raised = {}, {}, {}, {}, {}
    persons, threads = MergeMap(), MergeMap()   # merges followed as the views and the API's directory feed do
    decisions: set[str] = set()
    first: dict[str, bytes] = {}
    duplicates = conflicting = 0
    for values in streams.values():
        for value in values:
            event_type, r = codec.decode(value)
            event_id = r["envelope"]["event_id"]
            if event_id in first:
                duplicates += 1
                conflicting += first[event_id] != value
                continue
            first[event_id] = value
            if event_type not in ("AlertRaised", "AlertAcknowledged", "AlertResolved"):
                decisions.add(event_id)
            if event_type == "PersonLinked":
                linked[r["record_key"]] = r["person_id"]
            elif event_type == "PersonsMerged":
                persons.merge(r["retired_person_id"], r["surviving_person_id"])
            elif event_type == "PersonSplit":   # the records move; their new person is live (again)
                persons.lift(r["new_person_id"])
                linked.update(dict.fromkeys(r["record_keys"], r["new_person_id"]))
            elif event_type == "AlertRaised":
                alerts[r["alert_id"]] = "raised"
                raised[r["alert_id"]] = r
            elif event_type == "AlertResolved":
                alerts[r["alert_id"]] = r["resolution"]
            elif event_type == "DisputeThreaded":
                if r.get("merged_into"):
                    threads.merge(r["dispute_id"], r["merged_into"])
                else:
                    if r.get("previous_dispute_id") is not None:   # a correction: its thread is live again
                        threads.lift(r["dispute_id"])
                    placed[r["event_ref"]] = r["dispute_id"]
                    stages[r["event_ref"]] = r["stage"]

    def shown(r: dict) -> tuple:   # what the views and the API show of an alert, ids live
        return (r["rule"], r["level"], r["role"], persons.live(r["person_id"]) if r["person_id"] else None,
                threads.live(r["dispute_id"]) if r["dispute_id"] else None, tuple(r["evidence_event_ids"]),
                r["message"], r["envelope"]["occurred_at"], repr(r["envelope"].get("restriction")))

    return Outcome({k: persons.live(p) for k, p in linked.items()},
                   {e: threads.live(d) for e, d in placed.items()}, decisions, alerts, duplicates, conflicting,
                   stages, {a: shown(r) for a, r in raised.items()})


def kafka_outcome(reader: TopicReader) -> Outcome:
    reader.read_to_idle()
    return outcome_of({topic: reader.values(topic) for topic in OUTCOME_TOPICS})


def embedded_outcome(records: list[bytes], work: Path, *, tick: bool = True) -> Outcome:
    """The embedded runner (same pipeline) over `records` in this order, as one input partition, then
    (`tick`) the deadline rules against the clock once the records are drained."""
    work.mkdir(parents=True)
    log = EmbeddedEventLog(work / "log.db")
    log.create_topic(PIPELINE_IN_TOPIC, 1)
    log.append_many(PIPELINE_IN_TOPIC, [(None, value) for value in records])
    runner = EmbeddedRunner(log, Pipeline.default(), work / "state.pickle", input_topics=(PIPELINE_IN_TOPIC,))
    stats = runner.run(until_idle=True, tick_when_drained=tick)
    assert stats.dead_lettered == 0
    streams: dict[str, list[bytes]] = {}
    consumer = log.consumer("outcome", list(OUTCOME_TOPICS))
    while batch := consumer.poll(5000, timeout_s=0.2):
        for record in batch:
            streams.setdefault(record.topic, []).append(record.value)
    consumer.close()
    log.close()
    return outcome_of(streams)


def open_alerts(outcome: Outcome) -> dict[str, str]:
    """Alert id -> status of the alerts left open. A deadline alert raised by the clock before the
    response was processed is resolved ("superseded") once it is: the open ones are the answer."""
    return {alert: status for alert, status in outcome.alerts.items() if status == "raised"}


def open_alert_details(outcome: Outcome) -> dict[str, tuple]:
    """Alert id -> (rule, level, role, live person, live thread, evidence, message, raised at, restriction)
    of the alerts left open."""
    return {alert: outcome.raised[alert] for alert in open_alerts(outcome)}


def assert_same_answers(got: Outcome, reference: Outcome) -> None:
    """Exactly the same answers: every party's person id, every event's thread id and stage, every open
    alert with what the views show of it (`open_alert_details`); no event id published with two contents."""
    def differing(a: dict, b: dict) -> list:
        return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))

    assert got.conflicting == 0, "an event id was published twice with different bytes"
    persons = differing(got.persons, reference.persons)
    assert not persons, f"{len(persons)} party occurrences resolved to another person id, e.g. {persons[:3]}"
    threads = differing(got.threads, reference.threads)
    assert not threads, f"{len(threads)} events on another thread id, e.g. {threads[:3]}"
    stages = differing(got.stages, reference.stages)
    assert not stages, f"{len(stages)} events at another stage, e.g. {stages[:3]}"
    got_alerts, want_alerts = open_alert_details(got), open_alert_details(reference)
    alerts = differing(got_alerts, want_alerts)
    assert not alerts, (f"{len(alerts)} open alerts differ: {len(got_alerts.keys() - want_alerts.keys())} open only on "
                        f"the workers, {len(want_alerts.keys() - got_alerts.keys())} only embedded, the others in "
                        f"their details; e.g. {alerts[:3]}")


def clustering(mapping: dict[str, str]) -> set[frozenset[str]]:
    """The partition of keys into groups by value (ids forgotten)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for key, group in mapping.items():
        groups[group].add(key)
    return {frozenset(g) for g in groups.values()}


def bench(persons: int, batch_size: int, work: Path) -> None:
    """Events/s of one worker on a fresh Tansu broker, from its first resolved event to its last."""
    from tests.support.kafka_broker import TansuBroker

    rows = agency_records(publish_county_embedded(work, persons, seed=9))
    with TansuBroker(log_path=work / "tansu.log") as broker:
        copy_to_kafka(rows, broker.bootstrap, output_partitions=4)
        spawned = time.perf_counter()
        child = start_worker(broker.bootstrap, work, work / "worker.log", partitions=4, batch_size=batch_size)
        progress = ResolvedProgress(TopicReader(broker.bootstrap, [RESOLVED_TOPIC]))
        try:
            progress.wait_for(1, timeout_s=60, child=child)
            first = time.perf_counter()
            progress.wait_for(len(rows), timeout_s=900, child=child)
            done = time.perf_counter()
        finally:
            stop(child)
            progress.reader.close()
    print(f"{len(rows)} events ({persons} persons), batch {batch_size}: first output {first - spawned:.1f} s after "
          f"spawn, then {len(rows) / (done - first):,.0f} events/s ({done - first:.1f} s)")


if __name__ == "__main__":
    import tempfile

    # python -m tests.support.faust_worker PERSONS [BATCH]
    with tempfile.TemporaryDirectory() as tmp:
        bench(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 500, Path(tmp))
