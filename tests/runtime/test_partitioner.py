"""The vectorised partitioner (large batches) places every key where the one-key formula does."""

from __future__ import annotations

import random
import sys

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from runtime.eventlog import partitioner
from runtime.eventlog.partitioner import _VECTORISED_FROM, partition_for, partitions_for


def test_large_batches_land_where_single_keys_do(monkeypatch) -> None:
    monkeypatch.setattr(partitioner, "_hashed_in_python", partitioner._NUMPY_PAYS_AFTER)  # the vectorised path
    rng = random.Random(16)
    keys = [rng.randbytes(rng.choice((1, 2, 3, 4, 7, 16, 32, 33))) for _ in range(_VECTORISED_FROM + 100)]
    assert partitions_for(keys, 7) == [partition_for(k, 7) for k in keys]
    assert [partition_for(k, 7) for k in keys[:50]] == [(kafka_python_murmur2(k) & 0x7FFFFFFF) % 7 for k in keys[:50]]


def test_a_short_lived_process_places_its_batches_without_numpy(monkeypatch) -> None:
    """Below ~30,000 keys hashed, numpy's import would cost more than it saves: not imported for it."""
    monkeypatch.setattr(partitioner, "_hashed_in_python", 0)
    monkeypatch.delitem(sys.modules, "numpy", raising=False)
    keys = [bytes([i % 251, i // 251]) * 8 for i in range(_VECTORISED_FROM * 4)]
    assert partitions_for(keys, 5) == [partition_for(k, 5) for k in keys]
    assert "numpy" not in sys.modules
