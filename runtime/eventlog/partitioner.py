"""Key → partition, exactly as Kafka's default partitioner does it.

`partition_for(key, n) == (murmur2(key) & 0x7fffffff) % n`, the formula of the Java
client and of kafka-python's DefaultPartitioner, so the embedded log and a Kafka broker
put a key in the same partition. Records without a key go round robin over the
partitions (per writer handle and topic): they have no ordering guarantee between them.

`partitions_for(keys, n)` computes many at once, vectorised with numpy for batches of 512+ keys
once numpy is worth its import: the pure-Python hash costs ~3 µs a key and importing numpy ~0.08
CPU-s, the price of ~30,000 keys. So a process imports it only after it has hashed that many keys
in Python (a long-running worker, soon; a one-off `justlink connector run` of a county, never), or
when numpy is already loaded.
"""

from __future__ import annotations

import struct
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_VECTORISED_FROM = 512  # keys in one call; below it the pure-Python hash is cheaper than numpy's set-up
_NUMPY_PAYS_AFTER = 30_000  # keys hashed in Python by this process before importing numpy pays
_hashed_in_python = 0  # approximate under threads: it only decides when to import numpy


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2), unsigned 32 bit."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    words = length >> 2
    if words:
        for k in struct.unpack_from(f"<{words}I", data):
            k = (k * _M) & _MASK
            k ^= k >> 24
            k = (k * _M) & _MASK
            h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        base = length & ~3
        if tail >= 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h ^= data[base]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a non-null `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def _murmur2_same_length(keys: list[bytes], length: int) -> np.ndarray[Any, np.dtype[np.uint32]]:
    """murmur2 of many keys of one length, one numpy pass per 4-byte word."""
    import numpy as np

    m = np.uint32(_M)
    count = len(keys)
    h = np.full(count, (_SEED ^ length) & _MASK, dtype=np.uint32)
    raw = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(count, length)
    words = length >> 2
    if words:
        packed = np.ascontiguousarray(raw[:, : words * 4]).view("<u4")
        for i in range(words):
            k = packed[:, i] * m
            k ^= k >> np.uint32(24)
            k *= m
            h *= m
            h ^= k
    tail = length & 3
    if tail:
        base = length & ~3
        if tail >= 3:
            h ^= raw[:, base + 2].astype(np.uint32) << np.uint32(16)
        if tail >= 2:
            h ^= raw[:, base + 1].astype(np.uint32) << np.uint32(8)
        h ^= raw[:, base].astype(np.uint32)
        h *= m
    h ^= h >> np.uint32(13)
    h *= m
    h ^= h >> np.uint32(15)
    return h


def partitions_for(keys: Sequence[bytes], partitions: int) -> list[int]:
    """`partition_for` of every key (all non-null), in order."""
    global _hashed_in_python
    if len(keys) < _VECTORISED_FROM or ("numpy" not in sys.modules and _hashed_in_python < _NUMPY_PAYS_AFTER):
        _hashed_in_python += len(keys)
        return [partition_for(k, partitions) for k in keys]
    import numpy as np

    by_length: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        by_length.setdefault(len(key), []).append(index)
    result = [0] * len(keys)
    for length, indexes in by_length.items():
        hashes = _murmur2_same_length([keys[i] for i in indexes], length)
        chosen = ((hashes & np.uint32(0x7FFFFFFF)) % np.uint32(partitions)).tolist()
        for index, partition in zip(indexes, chosen, strict=True):
            result[index] = partition
    return result


class RoundRobin:
    """Partitions for null keys: 0, 1, …, n-1, 0, … per topic. Thread-safe."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, topic: str, partitions: int) -> int:
        return self.take(topic, partitions, 1)[0]

    def take(self, topic: str, partitions: int, count: int) -> list[int]:
        """The partitions of the next `count` null-key records."""
        with self._lock:
            start = self._next.get(topic, 0)
            self._next[topic] = start + count
        return [(start + i) % partitions for i in range(count)]


def require_bytes(topic: str, keys: Sequence[object], values: Sequence[object]) -> None:
    """Reject a batch (before any of it is placed) whose keys or values are not bytes."""
    if all(type(v) is bytes for v in values) and all(k is None or type(k) is bytes for k in keys):
        return
    from runtime.eventlog.base import EventLogError

    for index, (key, value) in enumerate(zip(keys, values, strict=True)):
        if not isinstance(value, bytes) or not (key is None or isinstance(key, bytes)):
            raise EventLogError(f"record {index} for topic {topic!r}: key and value must be bytes "
                                f"(got {type(key).__name__}, {type(value).__name__})")
