"""The event log interface: the hub's source of truth.

Two backends implement it — `embedded` (a durable single-file log in the data
directory) and `kafka` (any Kafka-protocol broker, via kafka-python) — and one contract
test suite (tests/runtime/test_eventlog_contract.py) runs unchanged against both.

Semantics follow Kafka: a topic has numbered partitions; a record's partition is chosen
from its key (murmur2, as Kafka's default partitioner, so both backends agree); offsets
are per partition and start at 0; a consumer group remembers, per partition, the offset
of the next record to read, and only what it commits explicitly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Headers = tuple[tuple[str, bytes], ...]
# What append_many takes per record: (key, value), or (key, value, headers) for headers of its own.
Item = tuple[bytes | None, bytes] | tuple[bytes | None, bytes, Headers]
# What append_and_commit takes per output: (topic, key, value[, headers]).
Output = tuple[str, bytes | None, bytes] | tuple[str, bytes | None, bytes, Headers]


def item_parts(item: Item, default: Headers = ()) -> tuple[bytes | None, bytes, Headers]:
    """(key, value, headers) of an appended item: its own headers, else the call's."""
    if len(item) == 3:
        return item[0], item[1], item[2] or default
    return item[0], item[1], default


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: Headers = field(default=())


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an acknowledged record landed."""

    topic: str
    partition: int
    offset: int


class EventLogError(RuntimeError):
    """The log could not do what was asked; the message says what and where."""


class CommitRefused(EventLogError):
    """The group would not take this member's offsets: it is rebalancing, or the member was fenced out.
    Nothing is lost — the records are read again by whoever owns their partitions next (at-least-once);
    the member carries on polling, which completes the rebalance."""


class EventLog(ABC):
    """A handle on the log. Thread-safe for appends; consumers are per-thread."""

    # --- topics -----------------------------------------------------------------
    @abstractmethod
    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        """Create `topic` if missing (partitions default to settings.topic_partitions)."""

    @abstractmethod
    def topics(self) -> dict[str, int]:
        """Every topic and its partition count."""

    @abstractmethod
    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the offset the next appended record will get."""

    # --- writing ----------------------------------------------------------------
    @abstractmethod
    def append(self, topic: str, value: bytes, key: bytes | None = None,
               headers: Headers = ()) -> Appended:
        """Append one record and wait until it is durable (acknowledged)."""

    @abstractmethod
    def append_many(self, topic: str, records: Iterable[Item], headers: Headers = ()) -> list[Appended]:
        """Append (key, value) pairs, or (key, value, headers) triples whose headers are their own
        (the others get `headers`); return once every one is acknowledged, in order. Headers are kept
        per record, in order, duplicates included, as Kafka keeps them."""

    @abstractmethod
    def describe(self) -> str:
        """Where this log lives, for messages: `embedded log <file>` or `broker <host:port,...>`."""

    # --- reading ----------------------------------------------------------------
    @abstractmethod
    def consumer(self, group: str, topics: Sequence[str], *,
                 from_beginning: bool = True) -> Consumer:
        """A consumer in `group` over `topics`, starting at the group's committed
        offsets (or the beginning / the end when none are committed)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files, sockets and threads."""

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Consumer(ABC):
    @abstractmethod
    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """Up to `max_records` records after the current position; [] after
        `timeout_s` when there are none. Advances the position, not the commit."""

    @abstractmethod
    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        """Commit the given next-offsets, or the current positions when None."""

    @abstractmethod
    def committed(self) -> dict[TopicPartition, int]:
        """The group's committed next-offsets for the assigned partitions."""

    @abstractmethod
    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next poll of `partition` start at `offset`."""

    @abstractmethod
    def seek_to_beginning(self) -> None:
        """Replay: the next poll starts at offset 0 of every assigned partition."""

    @abstractmethod
    def assignment(self) -> list[TopicPartition]:
        """The partitions this consumer reads."""

    @abstractmethod
    def position(self, partition: TopicPartition) -> int:
        """The offset the next poll of `partition` starts at."""

    def end_offsets(self) -> dict[TopicPartition, int]:
        """The end (next offset to be written) of each assigned partition as far as this consumer knows —
        on Kafka what the last fetch of the partition said, so it may trail what was appended since;
        a partition it knows nothing of yet is left out. For the lag a worker reports."""
        return {}

    @abstractmethod
    def append_and_commit(self, outputs: Sequence[Output],
                          offsets: dict[TopicPartition, int]) -> list[Appended]:
        """Append `outputs` (topic, key, value[, headers]), then commit this group's next-offsets — what a
        processor does with a batch. Returns once both are durable. The embedded log does both in one
        transaction (all or nothing: exactly-once). Kafka has no transactions that isolate on every
        broker, so there the offsets are committed only after every output is acknowledged: a crash
        in between re-delivers the batch, whose outputs (deterministic, same event ids) are then
        appended again — at-least-once, de-duplicated by event id downstream."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Leave the group; uncommitted positions are forgotten."""

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
