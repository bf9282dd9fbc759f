"""The vectorised partitioner (large batches) places every key where the one-key formula does."""

from __future__ import annotations

import random

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from runtime.eventlog.partitioner import _VECTORISED_FROM, partition_for, partitions_for


def test_large_batches_land_where_single_keys_do() -> None:
    rng = random.Random(16)
    keys = [rng.randbytes(rng.choice((1, 2, 3, 4, 7, 16, 32, 33))) for _ in range(_VECTORISED_FROM + 100)]
    assert partitions_for(keys, 7) == [partition_for(k, 7) for k in keys]
    assert [partition_for(k, 7) for k in keys[:50]] == [(kafka_python_murmur2(k) & 0x7FFFFFFF) % 7 for k in keys[:50]]
