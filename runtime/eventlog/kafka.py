"""The event log on a Kafka-protocol broker: appends through librdkafka (runtime/eventlog/rdproducer.py),
reading, topics and groups through kafka-python.

Appends use an idempotent producer with acks='all'; `append` returns once the broker
acknowledged the record. This module picks each record's partition itself with the
same murmur2 partitioner as the embedded log (null keys round robin), so a key lands in
the same partition on both.

Consumers. By default a consumer is assigned every partition of its topics and uses
its group only for committed offsets, like the embedded log (no JoinGroup, so it starts
at once; on real Kafka such commits are refused while the group also has members that
subscribe). With `balance_partitions=True` consumers subscribe instead and the group
splits the partitions between its members (rebalancing; joining takes about half the
session timeout on Tansu).

Caveat, `end_offsets`: some brokers (Tansu) answer ListOffsets(latest) with the base
offset of the last batch plus one. `end_offsets` therefore starts from that answer and
reads forward to the true end — exact on any broker, but it costs a fetch. Code should
still not decide "caught up" from end offsets alone while others append.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    CommitFailedError,
    FencedInstanceIdError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
)
from kafka.structs import OffsetAndMetadata

from runtime.eventlog.base import (
    Appended,
    CommitRefused,
    Consumer,
    EventLog,
    EventLogError,
    Headers,
    Item,
    Output,
    Record,
    TopicPartition,
    item_parts,
)
from runtime.eventlog.partitioner import RoundRobin, partitions_for, require_bytes
from runtime.eventlog.rdproducer import AppendFailed, RdKafkaException, RdProducer
from runtime.kafka_security import KafkaSecurity

T = TypeVar("T")

SESSION_TIMEOUT_MS = 6000
# a commit the group refuses because it is rebalancing or no longer counts this member in (CommitRefused)
REBALANCING = (CommitFailedError, RebalanceInProgressError, IllegalGenerationError, UnknownMemberIdError,
               FencedInstanceIdError)
HEARTBEAT_INTERVAL_MS = 2000


class KafkaEventLog(EventLog):
    """The event log on the brokers `bootstrap_servers` ("host:port" or a list of them)."""

    def __init__(self, bootstrap_servers: str | Sequence[str], *, client_id: str = "justlink",
                 default_partitions: int = 4, timeout_s: float = 15.0,
                 balance_partitions: bool = False, replication_factor: int = 1,
                 security: KafkaSecurity | None = None) -> None:
        self._servers = [bootstrap_servers] if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
        self._where = ",".join(self._servers)
        self._client_id = client_id
        self._default_partitions = default_partitions
        self._timeout_s = timeout_s
        self._balance = balance_partitions
        self._replication = replication_factor
        self._security = (security or KafkaSecurity()).kafka_python()   # TLS / SASL of every client below
        self._rd_security = (security or KafkaSecurity()).librdkafka()     # ... and of the producer
        self._lock = threading.Lock()
        self._admin: KafkaAdminClient | None = None
        self._producer: RdProducer | None = None
        self._known_topics: dict[str, int] = {}
        self._round_robin = RoundRobin()

    @property
    def bootstrap_servers(self) -> list[str]:
        return list(self._servers)

    # --- topics -----------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        count = partitions if partitions is not None else self._default_partitions
        if self._partition_count(topic, refresh=True) is not None:
            return
        try:
            self._admin_call(lambda admin: admin.create_topics([NewTopic(topic, count, self._replication)],
                                                               timeout_ms=int(self._timeout_s * 1000)))
        except TopicAlreadyExistsError:
            pass
        except KafkaError as exc:
            raise EventLogError(f"cannot create topic {topic!r} ({count} partitions) on broker "
                                f"{self._where}: {exc!r}") from exc
        deadline = time.monotonic() + self._timeout_s
        while self._partition_count(topic, refresh=True) is None:
            if time.monotonic() > deadline:
                raise EventLogError(f"topic {topic!r} was created on broker {self._where} but does not appear "
                                    "in its metadata")
            time.sleep(0.05)

    def topics(self) -> dict[str, int]:
        def list_and_describe(admin: KafkaAdminClient) -> list[dict[str, Any]]:
            names = [name for name in admin.list_topics() if not name.startswith("__")]
            return admin.describe_topics(names) if names else []

        try:
            described = self._admin_call(list_and_describe)
        except KafkaError as exc:
            raise EventLogError(f"cannot list topics on broker {self._where}: {exc!r}") from exc
        found: dict[str, int] = {(d["name"] if "name" in d else d["topic"]): len(d["partitions"])
                                 for d in described if d.get("error_code", 0) == 0}
        with self._lock:
            self._known_topics = dict(found)
        return found

    def end_offsets(self, topic: str) -> dict[int, int]:
        count = self._require_topic(topic)
        partitions = [KafkaTopicPartition(topic, p) for p in range(count)]
        probe = self._new_consumer(group=None, fetch_max_wait_ms=50)
        try:
            reported = probe.end_offsets(partitions, timeout_ms=int(self._timeout_s * 1000))
            ends = {tp.partition: reported[tp] for tp in partitions}
            probe.assign([tp for tp in partitions if reported[tp] > 0])
            for tp in probe.assignment():
                probe.seek(tp, reported[tp] - 1)
            # the broker may under-report: read forward to the last record
            while probe.assignment():
                batch = probe.poll(timeout_ms=200, max_records=10_000)
                if not batch:
                    break
                for tp, records in batch.items():
                    ends[tp.partition] = max(ends[tp.partition], records[-1].offset + 1)
            return ends
        except KafkaError as exc:
            raise EventLogError(f"cannot read end offsets of topic {topic!r} on broker {self._where}: "
                                f"{exc!r}") from exc
        finally:
            probe.close(autocommit=False)

    # --- writing ----------------------------------------------------------------
    def append(self, topic: str, value: bytes, key: bytes | None = None,
               headers: Headers = ()) -> Appended:
        return self.append_many(topic, [(key, value)], headers)[0]

    def append_many(self, topic: str, records: Iterable[Item], headers: Headers = ()) -> list[Appended]:
        count = self._require_topic(topic)
        items = [item_parts(item, headers) for item in records]
        require_bytes(topic, [key for key, _, _ in items], [value for _, value, _ in items])
        placed = self._place(topic, [key for key, _, _ in items], count)
        if not items:
            return []
        producer = self._producer_client()
        try:
            done = producer.append(topic, items, placed)
        except AppendFailed as exc:
            self._forget_broker_state()
            where = f"partition {exc.partition}" if exc.partition is not None else f"partitions {sorted(set(placed))}"
            raise EventLogError(f"append of {len(items)} records to topic {topic!r} ({where}) was not acknowledged "
                                f"by broker {self._where} within {self._timeout_s:g} s: {exc.cause}") from exc
        return [Appended(topic, partition, offset) for partition, offset in done]

    # --- reading ----------------------------------------------------------------
    def describe(self) -> str:
        return "broker " + ",".join(self.bootstrap_servers)

    def consumer(self, group: str, topics: Sequence[str], *,
                 from_beginning: bool = True) -> KafkaLogConsumer:
        if isinstance(topics, str):
            topics = [topics]
        counts = {topic: self._require_topic(topic) for topic in topics}
        kafka_consumer = self._new_consumer(group=group, from_beginning=from_beginning)
        try:
            return KafkaLogConsumer(self, kafka_consumer, group, counts, from_beginning=from_beginning,
                                    balance=self._balance)
        except BaseException:
            kafka_consumer.close(autocommit=False)
            raise

    def close(self) -> None:
        with self._lock:
            producer, admin = self._producer, self._admin
            self._producer = self._admin = None
        if producer is not None:
            producer.close(self._timeout_s)
        if admin is not None:
            admin.close()

    # --- internals ---------------------------------------------------------------
    def _place(self, topic: str, keys: list[bytes | None], count: int) -> list[int]:
        """Partitions chosen here, not by kafka-python: its sticky logic re-picks for
        null keys, and the murmur2 placement must match the embedded log's."""
        if None not in keys:
            return partitions_for(keys, count)  # type: ignore[arg-type]
        return [self._round_robin.next(topic, count) if key is None else partitions_for([key], count)[0]
                for key in keys]

    def _forget_broker_state(self) -> None:
        """After a failed append: the next one starts a fresh producer (an idempotent
        producer that lost its broker may be stuck in a fatal state, e.g. when the broker
        restarted and no longer knows its producer id) and re-reads the topics."""
        with self._lock:
            producer, self._producer = self._producer, None
            self._known_topics = {}
        if producer is not None:
            producer.abandon()

    def _admin_call(self, call: Callable[[KafkaAdminClient], T]) -> T:
        """`call(admin)`, retried once on a fresh admin client when the connection is bad
        (after a broker restart the old client can stay stuck on a dead node)."""
        try:
            return call(self._admin_client())
        except TopicAlreadyExistsError:
            raise
        except KafkaError:
            with self._lock:
                stale, self._admin = self._admin, None
            if stale is not None:
                stale.close()
            return call(self._admin_client())

    def _admin_client(self) -> KafkaAdminClient:
        with self._lock:
            if self._admin is None:
                try:
                    self._admin = KafkaAdminClient(bootstrap_servers=self._servers, client_id=self._client_id,
                                                   **self._security,
                                                   request_timeout_ms=int(self._timeout_s * 1000),
                                                   bootstrap_timeout_ms=int(self._timeout_s * 1000))
                except (KafkaError, OSError) as exc:
                    raise EventLogError(f"cannot reach Kafka broker {self._where}: {exc!r}") from exc
            return self._admin

    def _producer_client(self) -> RdProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = RdProducer(self._servers, self._client_id, self._rd_security, self._timeout_s)
                except RdKafkaException as exc:
                    raise EventLogError(f"cannot set up a producer for Kafka broker {self._where}: {exc}") from exc
            return self._producer

    def _new_consumer(self, group: str | None, *, from_beginning: bool = True,
                      fetch_max_wait_ms: int = 100) -> KafkaConsumer:
        try:
            return KafkaConsumer(
                bootstrap_servers=self._servers, client_id=self._client_id, group_id=group, **self._security,
                enable_auto_commit=False, auto_offset_reset="earliest" if from_beginning else "latest",
                session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
                fetch_max_wait_ms=fetch_max_wait_ms, max_partition_fetch_bytes=4 * 1024 * 1024,
                request_timeout_ms=max(int(self._timeout_s * 1000), 30000),
                bootstrap_timeout_ms=int(self._timeout_s * 1000), allow_auto_create_topics=False)
        except (KafkaError, OSError) as exc:
            raise EventLogError(f"cannot reach Kafka broker {self._where}: {exc!r}") from exc

    def _partition_count(self, topic: str, *, refresh: bool) -> int | None:
        """Partitions of `topic`: from what this handle knows, or asking the broker."""
        if not refresh:
            with self._lock:
                return self._known_topics.get(topic)
        return self.topics().get(topic)

    def _require_topic(self, topic: str) -> int:
        count = self._partition_count(topic, refresh=False) or self._partition_count(topic, refresh=True)
        if count is None:
            raise EventLogError(f"topic {topic!r} does not exist on broker {self._where}; create it first")
        return count

    @property
    def timeout_s(self) -> float:
        return self._timeout_s


class KafkaLogConsumer(Consumer):
    """A KafkaConsumer behind the `Consumer` interface."""

    def __init__(self, log: KafkaEventLog, consumer: KafkaConsumer, group: str, topics: dict[str, int], *,
                 from_beginning: bool, balance: bool) -> None:
        self._log = log
        self._consumer = consumer
        self._group = group
        self._where = ",".join(log.bootstrap_servers)
        if balance:
            consumer.subscribe(list(topics))
            self._await_assignment(list(topics))
        else:
            consumer.assign([KafkaTopicPartition(t, p) for t, count in topics.items() for p in range(count)])
        if not from_beginning:
            self._start_at_end()

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        try:
            batch = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except KafkaError as exc:
            raise EventLogError(f"poll of group {self._group!r} on broker {self._where} failed: {exc!r}") from exc
        return [
            Record(r.topic, r.partition, r.offset, r.key, r.value if r.value is not None else b"", r.timestamp,
                   tuple(r.headers) if r.headers else ())
            for records in batch.values() for r in records
        ]

    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        if offsets is None:
            offsets = {TopicPartition(tp.topic, tp.partition): self._consumer.position(tp)
                       for tp in self._consumer.assignment()}
        try:
            self._consumer.commit({KafkaTopicPartition(tp.topic, tp.partition): OffsetAndMetadata(offset, "", -1)
                                   for tp, offset in offsets.items()})
        except REBALANCING as exc:
            raise CommitRefused(f"commit of group {self._group!r} on broker {self._where} refused "
                                f"({len(offsets)} partitions): {type(exc).__name__}") from exc
        except KafkaError as exc:
            raise EventLogError(f"commit of group {self._group!r} on broker {self._where} failed "
                                f"({len(offsets)} partitions): {exc!r}") from exc

    def committed(self) -> dict[TopicPartition, int]:
        found = {}
        for tp in self._consumer.assignment():
            offset = self._consumer.committed(tp)
            if offset is not None:
                found[TopicPartition(tp.topic, tp.partition)] = offset
        return found

    def seek(self, partition: TopicPartition, offset: int) -> None:
        tp = KafkaTopicPartition(partition.topic, partition.partition)
        if tp not in self._consumer.assignment():
            raise EventLogError(f"consumer of group {self._group!r} is not assigned {partition.topic!r} "
                                f"partition {partition.partition}")
        self._consumer.seek(tp, offset)

    def seek_to_beginning(self) -> None:
        self._consumer.seek_to_beginning()

    def assignment(self) -> list[TopicPartition]:
        return sorted((TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment()),
                      key=lambda tp: (tp.topic, tp.partition))

    def end_offsets(self) -> dict[TopicPartition, int]:
        """The high watermarks of the last fetch responses (no request: free to ask every batch)."""
        ends = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                ends[TopicPartition(tp.topic, tp.partition)] = highwater
        return ends

    def append_and_commit(self, outputs: Sequence[Output],
                          offsets: dict[TopicPartition, int]) -> list[Appended]:
        """Outputs first, each topic's records acknowledged in order; then the offsets (see the
        interface: at-least-once on Kafka)."""
        by_topic: dict[str, list[int]] = {}
        for index, output in enumerate(outputs):
            by_topic.setdefault(output[0], []).append(index)
        result: dict[int, Appended] = {}
        for topic, indexes in by_topic.items():
            appended = self._log.append_many(topic, [outputs[i][1:] for i in indexes])
            for index, where in zip(indexes, appended, strict=True):
                result[index] = where
        if offsets:
            self.commit(offsets)
        return [result[index] for index in range(len(outputs))]

    def position(self, partition: TopicPartition) -> int:
        try:
            position: int = self._consumer.position(KafkaTopicPartition(partition.topic, partition.partition))
            return position
        except KafkaError as exc:
            raise EventLogError(f"position of group {self._group!r} on {partition.topic!r} partition "
                                f"{partition.partition} on broker {self._where} failed: {exc!r}") from exc

    def close(self) -> None:
        self._consumer.close(autocommit=False)

    def _await_assignment(self, topics: list[str]) -> None:
        """Join the group: poll until partitions are assigned, then rewind whatever that
        poll fetched so the caller's first poll returns it."""
        deadline = time.monotonic() + SESSION_TIMEOUT_MS / 1000 * 2 + self._log.timeout_s
        while not self._consumer.assignment():
            if time.monotonic() > deadline:
                raise EventLogError(f"group {self._group!r} got no partitions of {topics} from broker "
                                    f"{self._where} in time")
            fetched = self._consumer.poll(timeout_ms=200)
            for tp, records in fetched.items():
                self._consumer.seek(tp, records[0].offset)

    def _start_at_end(self) -> None:
        """Start partitions without a committed offset at the true end (see `end_offsets`)."""
        assigned = self._consumer.assignment()
        uncommitted = [tp for tp in assigned if self._consumer.committed(tp) is None]
        for topic in {tp.topic for tp in uncommitted}:
            ends = self._log.end_offsets(topic)
            for tp in uncommitted:
                if tp.topic == topic:
                    self._consumer.seek(tp, ends[tp.partition])
