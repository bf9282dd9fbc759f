"""The embedded event log: one SQLite file (WAL mode) with Kafka's semantics.

Layout: `records` holds every record with a global sequence number `seq` (its rowid,
allocated in commit order), its topic, partition and per-partition offset;
`partition_ends` the next offset of each partition; `group_offsets` each consumer
group's committed next-offsets.

Durability. An append is acknowledged when its SQLite transaction has committed. With
the default `synchronous=NORMAL` a committed transaction survives the death of the
process (SIGKILL, crash, OOM kill): it is in the WAL, in the operating system's page
cache. It does NOT survive a power loss or kernel crash that happens before the next WAL
checkpoint reaches the disk — the log then comes back consistent but without the last
transactions. Pass `fsync=True` (synchronous=FULL) to sync the WAL at every commit
and survive power loss too, at a cost in append latency.

Concurrency. Several processes may open the same file (say a connector CLI and the
server). Writers are serialised by SQLite; a writer waits up to `busy_timeout_s` for
the lock. Within a process the handle is thread-safe for appends; each consumer has its
own connection and belongs to one thread at a time.

Ordering. A consumer's poll returns records in global append order (`seq`) across all
its topics and partitions, so a replay is deterministic. Differences from Kafka: a
consumer always reads every partition of its topics (there is no rebalancing between
members of a group); records without a key go round robin over the partitions.
"""

from __future__ import annotations

import itertools
import sqlite3
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path

from runtime.datadir import private_file
from runtime.eventlog.base import (
    Appended,
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partition_ends (
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;
-- seq: the global append order (allocated under the write lock, so commit order)
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    headers BLOB
);
-- a sparse offset index: per append transaction and partition, where its first record is
CREATE TABLE IF NOT EXISTS batches (
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition, first_offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    group_id TEXT NOT NULL,
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic_id, partition)
) WITHOUT ROWID;
"""

_INSERT = "INSERT INTO records VALUES (?,?,?,?,?,?,?,?)"
_COMMIT_GROUP = (
    "INSERT INTO group_offsets (group_id, topic_id, partition, next_offset) VALUES (?,?,?,?) "
    "ON CONFLICT (group_id, topic_id, partition) DO UPDATE SET next_offset = excluded.next_offset"
)
# A waiting consumer re-checks this often for appends made by other processes.
_CROSS_PROCESS_POLL_S = 0.05


def encode_headers(headers: Headers) -> bytes | None:
    if not headers:
        return None
    parts = []
    for name, value in headers:
        raw_name = name.encode()
        parts.append(struct.pack("<HI", len(raw_name), len(value)))
        parts.append(raw_name)
        parts.append(bytes(value))
    return b"".join(parts)


def decode_headers(blob: bytes | None) -> Headers:
    if not blob:
        return ()
    headers = []
    pos = 0
    while pos < len(blob):
        name_len, value_len = struct.unpack_from("<HI", blob, pos)
        pos += 6
        name = blob[pos:pos + name_len].decode()
        pos += name_len
        headers.append((name, blob[pos:pos + value_len]))
        pos += value_len
    return tuple(headers)


def damaged(path: Path, who: str, exc: sqlite3.DatabaseError) -> EventLogError:
    """A read that SQLite refused (a damaged file, most often): name the file, never a bare sqlite error."""
    return EventLogError(f"cannot read the embedded event log {path} ({who}): {exc}; the file may be damaged: "
                         "see 'Recovery' in README.md")


class EmbeddedEventLog(EventLog):
    """The event log in one SQLite file at `path` (created when missing)."""

    def __init__(self, path: str | Path, *, default_partitions: int = 4,
                 busy_timeout_s: float = 30.0, fsync: bool = False) -> None:
        self._path = Path(path)
        self._default_partitions = default_partitions
        self._busy_timeout_s = busy_timeout_s
        self._synchronous = "FULL" if fsync else "NORMAL"
        private_file(self._path)  # 0600 in a 0700 directory: the log holds every record
        self._lock = threading.Lock()
        self._appended = threading.Condition()
        self._round_robin = RoundRobin()
        self._topic_cache: dict[str, tuple[int, int]] = {}
        self._closed = False
        self._db = self.connect()
        with self._lock, self._write_transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)

    @property
    def path(self) -> Path:
        return self._path

    def connect(self) -> sqlite3.Connection:
        """A new connection to the log file, configured like the log's own."""
        try:
            db = sqlite3.connect(self._path, timeout=self._busy_timeout_s, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
        except sqlite3.Error as exc:
            raise EventLogError(f"cannot open the embedded event log {self._path}: {exc}") from exc
        return db

    # --- topics -----------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        count = partitions if partitions is not None else self._default_partitions
        if not topic or count < 1:
            raise EventLogError(f"cannot create topic {topic!r} with {count} partitions in {self._path}")
        with self._lock, self._write_transaction():
            if self._db.execute("SELECT 1 FROM topics WHERE name = ?", (topic,)).fetchone():
                return
            topic_id = self._db.execute("INSERT INTO topics (name, partitions) VALUES (?, ?)",
                                        (topic, count)).lastrowid
            self._db.executemany("INSERT INTO partition_ends VALUES (?, ?, 0)",
                                 [(topic_id, p) for p in range(count)])

    def topics(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT name, partitions FROM topics ORDER BY name").fetchall()
        return dict(rows)

    def end_offsets(self, topic: str) -> dict[int, int]:
        with self._lock:
            topic_id, _ = self._topic(topic)
            rows = self._db.execute("SELECT partition, next_offset FROM partition_ends WHERE topic_id = ?",
                                    (topic_id,)).fetchall()
        return dict(rows)

    # --- writing ----------------------------------------------------------------
    def append(self, topic: str, value: bytes, key: bytes | None = None,
               headers: Headers = ()) -> Appended:
        return self.append_many(topic, [(key, value)], headers)[0]

    def append_many(self, topic: str, records: Iterable[Item], headers: Headers = ()) -> list[Appended]:
        items = [item_parts(item, headers) for item in records]
        if not items:
            return []
        with self._lock, self._write_transaction():
            appended = self._append_in_tx(topic, items)
        self._notify()
        return appended

    def append_and_commit(self, outputs: Sequence[Output], group: str,
                          offsets: dict[TopicPartition, int]) -> list[Appended]:
        """Append `outputs` (topic, key, value[, headers]) and commit `group`'s next-offsets in one
        transaction: either all of it is durable or none of it (exactly-once runners)."""
        by_topic: dict[str, list[int]] = {}
        for index, output in enumerate(outputs):
            by_topic.setdefault(output[0], []).append(index)
        result: list[Appended | None] = [None] * len(outputs)
        with self._lock, self._write_transaction():
            for topic, indexes in by_topic.items():
                items = [item_parts(outputs[i][1:]) for i in indexes]
                for index, appended in zip(indexes, self._append_in_tx(topic, items), strict=True):
                    result[index] = appended
            self._commit_in_tx(group, offsets)
        if outputs:
            self._notify()
        return result  # type: ignore[return-value]

    def describe(self) -> str:
        return f"embedded log {self.path}"

    def commit_group(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        """Commit `group`'s next-offsets (what a consumer's commit does)."""
        with self._lock, self._write_transaction():
            self._commit_in_tx(group, offsets)

    def committed_offsets(self, group: str, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        wanted = set(partitions)
        with self._lock:
            rows = self._db.execute(
                "SELECT t.name, g.partition, g.next_offset FROM group_offsets g "
                "JOIN topics t ON t.id = g.topic_id WHERE g.group_id = ?", (group,)).fetchall()
        found = {TopicPartition(name, p): offset for name, p, offset in rows}
        return {tp: offset for tp, offset in found.items() if tp in wanted}

    # --- reading ----------------------------------------------------------------
    def consumer(self, group: str, topics: Sequence[str], *,
                 from_beginning: bool = True) -> EmbeddedConsumer:
        if isinstance(topics, str):
            topics = [topics]
        try:
            with self._lock:
                resolved = {topic: self._topic(topic) for topic in topics}
            return EmbeddedConsumer(self, group, resolved, from_beginning=from_beginning)
        except sqlite3.DatabaseError as exc:
            raise damaged(self._path, f"group {group!r}", exc) from exc

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def wait_for_append(self, timeout_s: float) -> None:
        """Sleep until this handle appends, or at most `timeout_s` (other processes'
        appends are not signalled, so callers re-check)."""
        with self._appended:
            self._appended.wait(timeout_s)

    # --- internals ---------------------------------------------------------------
    def _write_transaction(self) -> _WriteTransaction:
        if self._closed:
            raise EventLogError(f"the embedded event log {self._path} is closed")
        return _WriteTransaction(self._db, self._path)

    def _notify(self) -> None:
        with self._appended:
            self._appended.notify_all()

    def _topic(self, topic: str) -> tuple[int, int]:
        """(topic id, partition count); the caller holds the lock."""
        cached = self._topic_cache.get(topic)
        if cached is None:
            row = self._db.execute("SELECT id, partitions FROM topics WHERE name = ?", (topic,)).fetchone()
            if row is None:
                raise EventLogError(f"topic {topic!r} does not exist in the embedded event log {self._path}; "
                                    "create it first")
            cached = self._topic_cache[topic] = (row[0], row[1])
        return cached

    def _append_in_tx(self, topic: str, items: list[tuple[bytes | None, bytes, Headers]]) -> list[Appended]:
        topic_id, count = self._topic(topic)
        keys = [key for key, _, _ in items]
        values = [value for _, value, _ in items]
        header_blobs = [encode_headers(headers) for _, _, headers in items]
        require_bytes(topic, keys, values)
        if None not in keys:
            chosen = partitions_for(keys, count)  # type: ignore[arg-type]
        else:
            keyed = [i for i, key in enumerate(keys) if key is not None]
            chosen = [0] * len(items)
            for index, partition in zip(keyed, partitions_for([keys[i] for i in keyed], count),  # type: ignore[misc]
                                        strict=True):
                chosen[index] = partition
            unkeyed = [i for i, key in enumerate(keys) if key is None]
            for index, partition in zip(unkeyed, self._round_robin.take(topic, count, len(unkeyed)), strict=True):
                chosen[index] = partition
        ends = dict(self._db.execute("SELECT partition, next_offset FROM partition_ends WHERE topic_id = ?",
                                     (topic_id,)).fetchall())
        first_seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM records").fetchone()[0]
        counters = {p: itertools.count(ends[p]) for p in set(chosen)}
        offsets = [next(counters[p]) for p in chosen]
        seqs = range(first_seq, first_seq + len(items))
        now_ms = time.time_ns() // 1_000_000
        self._db.executemany(_INSERT, zip(seqs, repeat(topic_id), chosen, offsets, repeat(now_ms), keys, values,
                                          header_blobs))
        batch_starts: dict[int, tuple[int, int]] = {}
        for seq, partition, offset in zip(seqs, chosen, offsets, strict=True):
            if partition not in batch_starts:
                batch_starts[partition] = (offset, seq)
        self._db.executemany("INSERT INTO batches VALUES (?, ?, ?, ?)",
                             [(topic_id, p, offset, seq) for p, (offset, seq) in batch_starts.items()])
        self._db.executemany("UPDATE partition_ends SET next_offset = ? WHERE topic_id = ? AND partition = ?",
                             [(next(counter), topic_id, p) for p, counter in counters.items()])
        return list(map(Appended, repeat(topic), chosen, offsets))

    def _commit_in_tx(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        rows = []
        for tp, offset in offsets.items():
            topic_id, count = self._topic(tp.topic)
            if not 0 <= tp.partition < count:
                raise EventLogError(f"group {group!r}: topic {tp.topic!r} has no partition {tp.partition} "
                                    f"in {self._path}")
            rows.append((group, topic_id, tp.partition, offset))
        self._db.executemany(_COMMIT_GROUP, rows)


class _WriteTransaction:
    """BEGIN IMMEDIATE … COMMIT (takes the file's write lock up front, so reading the
    partition ends and writing the records is atomic across processes)."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise EventLogError(f"cannot write to the embedded event log {self._path}: {exc}") from exc

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error as commit_error:
                self._rollback()
                raise EventLogError(f"cannot commit to the embedded event log {self._path}: "
                                    f"{commit_error}") from commit_error
        self._rollback()
        if isinstance(exc, sqlite3.Error):
            raise EventLogError(f"write to the embedded event log {self._path} failed: {exc}") from exc

    def _rollback(self) -> None:
        if self._db.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
            self._db.execute("ROLLBACK")


class EmbeddedConsumer(Consumer):
    """Reads every partition of its topics, in global append order (`seq`).

    It keeps a scan cursor, a `seq` below which every record of its partitions has been
    delivered or passed over. A poll scans `records` from the cursor in `seq` order and
    delivers a record when its offset is at or after its partition's position; a record
    below the position (its partition was sought forward, or is ahead) is passed over.
    A seek back lowers the cursor to the start of the append batch holding the offset.
    """

    def __init__(self, log: EmbeddedEventLog, group: str, topics: dict[str, tuple[int, int]], *,
                 from_beginning: bool) -> None:
        self._log = log
        self._group = group
        self._assignment = [TopicPartition(name, p) for name, (_, count) in topics.items() for p in range(count)]
        self._slot = {(topics[tp.topic][0], tp.partition): i for i, tp in enumerate(self._assignment)}
        self._index = {tp: i for i, tp in enumerate(self._assignment)}
        self._topic_ids = {name: topic_id for name, (topic_id, _) in topics.items()}
        topic_ids = sorted({topic_id for topic_id, _ in topics.values()})
        self._query = ('SELECT seq, topic_id, partition, "offset", timestamp_ms, key, value, headers FROM records '
                       f"WHERE seq >= ? AND topic_id IN ({','.join(map(str, topic_ids))}) ORDER BY seq LIMIT ?")
        self._db = log.connect()
        self._db.execute("PRAGMA query_only=ON")
        committed = log.committed_offsets(group, self._assignment)
        ends: dict[TopicPartition, int] = {}
        if not from_beginning:
            for name in topics:
                ends.update({TopicPartition(name, p): o for p, o in log.end_offsets(name).items()})
        # by assignment index: the offset of the next record to deliver
        self._positions = [committed.get(tp, 0 if from_beginning else ends[tp]) for tp in self._assignment]
        self._cursor = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM records").fetchone()[0]
        for tp, position in zip(self._assignment, self._positions, strict=True):
            self._lower_cursor(tp, position)

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                records = self._fetch(max_records)
            except sqlite3.DatabaseError as exc:
                raise damaged(self._log.path, f"group {self._group!r}", exc) from exc
            remaining = deadline - time.monotonic()
            if records or remaining <= 0:
                return records
            self._log.wait_for_append(min(remaining, _CROSS_PROCESS_POLL_S))

    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        if offsets is None:
            offsets = dict(zip(self._assignment, self._positions, strict=True))
        self._log.commit_group(self._group, offsets)

    def committed(self) -> dict[TopicPartition, int]:
        return self._log.committed_offsets(self._group, self._assignment)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        index = self._index.get(partition)
        if index is None:
            raise EventLogError(f"consumer of group {self._group!r} is not assigned {partition.topic!r} "
                                f"partition {partition.partition}")
        if offset < 0:
            raise EventLogError(f"cannot seek {partition.topic!r} partition {partition.partition} to {offset}")
        self._positions[index] = offset
        self._lower_cursor(partition, offset)

    def seek_to_beginning(self) -> None:
        self._positions = [0] * len(self._assignment)
        self._cursor = 0

    def assignment(self) -> list[TopicPartition]:
        return list(self._assignment)

    def append_and_commit(self, outputs: Sequence[Output],
                          offsets: dict[TopicPartition, int]) -> list[Appended]:
        return self._log.append_and_commit(outputs, self._group, offsets)

    def end_offsets(self) -> dict[TopicPartition, int]:
        ends = {topic: self._log.end_offsets(topic) for topic in self._topic_ids}
        return {tp: ends[tp.topic].get(tp.partition, 0) for tp in self._assignment}

    def position(self, partition: TopicPartition) -> int:
        return self._positions[self._index[partition]]

    def close(self) -> None:
        self._db.close()

    def _lower_cursor(self, tp: TopicPartition, offset: int) -> None:
        topic_id = self._topic_ids[tp.topic]
        row = self._db.execute(
            "SELECT first_seq FROM batches WHERE topic_id = ? AND partition = ? AND first_offset <= ? "
            "ORDER BY first_offset DESC LIMIT 1", (topic_id, tp.partition, offset)).fetchone()
        if row is not None:
            self._cursor = min(self._cursor, row[0])
        # else the partition is empty: its records will get a seq above any there is now

    def _fetch(self, max_records: int) -> list[Record]:
        assignment = self._assignment
        positions = self._positions
        slot = self._slot
        delivered: list[Record] = []
        while len(delivered) < max_records:
            want = max_records - len(delivered)
            self._db.execute("BEGIN")  # one snapshot for the scan and the max(seq) below
            try:
                rows = self._db.execute(self._query, (self._cursor, want)).fetchall()
                scanned_to = None
                if len(rows) < want:
                    scanned_to = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]
            finally:
                self._db.execute("COMMIT")
            for seq, topic_id, partition, offset, timestamp_ms, key, value, headers in rows:
                self._cursor = seq + 1
                index = slot.get((topic_id, partition))
                if index is None or offset < positions[index]:
                    continue
                positions[index] = offset + 1
                tp = assignment[index]
                delivered.append(Record(tp.topic, partition, offset, key, value, timestamp_ms,
                                        decode_headers(headers) if headers else ()))
                if len(delivered) == max_records:
                    return delivered
            if scanned_to is not None:
                # every record up to the snapshot's last one has been seen
                self._cursor = max(self._cursor, scanned_to + 1)
                break
        return delivered
