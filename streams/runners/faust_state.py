"""Processor state for the faust runner: one in-memory state per pipeline partition, made
durable as a journal of per-batch write-sets in ONE faust table's changelog.

Why not one faust Table per processor table: faust sends a changelog record per key write,
and one event writes keys in a dozen tables (a dozen changelog topics). A worker killed
mid-batch leaves any subset of those records on the broker, i.e. a state torn in the
middle of an event, which no idempotent `handle` can repair. Here a batch's writes travel
as one changelog record (the write-set: every key the batch set or deleted, with its final
value, and the input offset the state now reflects), so the recovered state is always the
state after some whole batch. The runner publishes a batch's outputs and waits for the
broker's acknowledgement before it sends the write-set, so "in the state" implies "its
outputs were published" (see faust_app.py for the full argument).

A write-set larger than CHUNK_BYTES travels as several consecutive records ("i/n" header);
recovery applies it only once its last part arrived, so a crash between parts leaves the
state at the previous batch. (Kafka brokers refuse records over ~1 MB by default.)

The changelog grows with history (its keys are unique, so compaction keeps everything):
recovery replays every write-set of the partition. Fine for a county; a periodic snapshot
record would bound it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

from runtime import statecodec
from runtime.statecodec import StateCodecError

log = logging.getLogger("justlink.runner")

CHUNK_BYTES = 512 * 1024
SEEN = "runner.seen"  # event id -> input offset: the events this state has applied (de-duplication)


class TrackedTable(MutableMapping[str, Any]):
    """A dict that remembers which keys were set or deleted since the last write-set.
    Processors write values back whole (streams/processor.py), so a key write is a change."""

    __slots__ = ("data", "dirty")

    def __init__(self, data: dict[str, Any], dirty: set[str]) -> None:
        self.data = data
        self.dirty = dirty

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.dirty.add(key)

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.dirty.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def keys(self):
        return self.data.keys()

    def items(self):
        return self.data.items()

    def values(self):
        return self.data.values()


class PartitionState:
    """The processors' state for one pipeline partition (the `State` protocol of streams/processor.py)."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.next_offset = 0          # the first input offset not yet reflected in the state
        self.tables: dict[str, dict[str, Any]] = {}
        self._views: dict[str, TrackedTable] = {}
        self._dirty: dict[str, set[str]] = {}
        self._parts: list[bytes] = []   # recovery: the parts so far of a write-set sent in several records
        self.refused = False            # a changelog record did not decode: rebuilding from the log
        self._base_next = False         # the next write-set replaces the whole state (after a refusal)

    def table(self, name: str) -> TrackedTable:
        view = self._views.get(name)
        if view is None:
            data = self.tables.setdefault(name, {})
            view = self._views[name] = TrackedTable(data, self._dirty.setdefault(name, set()))
        return view

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.tables.get(SEEN, ())

    def mark_seen(self, event_id: str, offset: int) -> None:
        self.table(SEEN)[event_id] = offset

    @property
    def has_writes(self) -> bool:
        return any(self._dirty.values())

    def take_write_set(self) -> bytes:
        """The encoded write-set (runtime/statecodec.py) of everything changed since the last call, and
        the offset. After a refused changelog it is a base: recovery replaces the state with it."""
        sets: dict[str, dict[str, Any]] = {}
        deletes: dict[str, list[str]] = {}
        for name, keys in self._dirty.items():
            if not keys:
                continue
            data = self.tables[name]
            for key in keys:
                if key in data:
                    sets.setdefault(name, {})[key] = data[key]
                else:
                    deletes.setdefault(name, []).append(key)
            keys.clear()
        base, self._base_next = self._base_next, False
        return statecodec.dumps({"offset": self.next_offset, "set": sets, "del": deletes, "base": base})

    def apply_record(self, value: bytes) -> None:
        """Recovery: one changelog record, i.e. one part of a write-set."""
        header, _, chunk = value.partition(b"\n")
        try:
            index, count = (int(n) for n in header.split(b"/"))
        except ValueError:
            self._refuse("a changelog record without its i/n part header")
            return
        if index == 0:
            self._parts = []
        elif index != len(self._parts):
            return  # the tail of an incomplete write-set (crash between parts), re-sent whole later
        self._parts.append(chunk)
        if len(self._parts) == count:
            payload, self._parts = b"".join(self._parts), []
            self.apply_write_set(payload)

    def apply_write_set(self, payload: bytes) -> None:
        """Replay one write-set (recovery). Values are absolute, so replaying a write-set
        that is already reflected changes nothing once the replay reaches the end."""
        try:
            write_set = statecodec.loads(payload)
            sets, deletes, offset = write_set["set"], write_set["del"], int(write_set["offset"])
            if not isinstance(sets, dict) or not isinstance(deletes, dict):
                raise StateCodecError("a write-set's set and del are not mappings")
        except (StateCodecError, KeyError, TypeError, ValueError) as exc:
            self._refuse(str(exc))
            return
        if write_set.get("base"):
            self._clear()
            self.refused = False
        elif self.refused:
            return  # a change to a state that was refused: the rebuild's base write-set replaces it
        for name, values in sets.items():
            self.tables.setdefault(name, {}).update(values)
        for name, keys in deletes.items():
            table = self.tables.setdefault(name, {})
            for key in keys:
                table.pop(key, None)
        self.next_offset = offset

    def _clear(self) -> None:
        self.tables.clear()
        self._views.clear()
        self._dirty.clear()
        self.next_offset = 0

    def _refuse(self, why: str) -> None:
        """A changelog record that is not a write-set (damaged, or planted): never run, never half-applied.
        The partition's state starts over from offset 0 — the runner rebuilds it from the log — and
        its next write-set is a base that replaces everything before it on replay."""
        log.error("processor state, partition %d: a changelog record was refused (%s); rebuilding the state "
                  "from the log", self.partition, why)
        self._clear()
        self._parts = []
        self.refused = True
        self._base_next = True


class PartitionStates:
    """The states of the partitions this worker holds, filled by changelog recovery."""

    def __init__(self) -> None:
        self.by_partition: dict[int, PartitionState] = {}

    def get(self, partition: int) -> PartitionState:
        state = self.by_partition.get(partition)
        if state is None:
            state = self.by_partition[partition] = PartitionState(partition)
        return state

    def keep_only(self, partitions: Iterable[int]) -> None:
        keep = set(partitions)
        for partition in [p for p in self.by_partition if p not in keep]:
            del self.by_partition[partition]


def write_set_records(partition: int, next_offset: int, payload: bytes, tag: str = "") -> list[tuple[bytes, bytes]]:
    """The changelog records (key, value) of one write-set, in the order to send them. Keys
    are unique per partition, batch (or `tag`: a tick) and part; a batch redone after a crash
    re-sends the same records (handling is deterministic)."""
    chunks = [payload[i:i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
    return [(f"{partition}:{next_offset:015d}{':' + tag if tag else ''}:{index}".encode(), b"%d/%d\n" % (index, len(chunks)) + chunk)
            for index, chunk in enumerate(chunks)]
