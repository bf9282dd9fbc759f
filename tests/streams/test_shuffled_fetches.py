"""`justlink worker --shuffle-fetches SEED` (streams/runners/shuffled.py) interleaves the partitions at
random but loses, repeats and reorders nothing within a partition; a seek forgets what it held."""

from __future__ import annotations

from pathlib import Path

from runtime.eventlog.base import TopicPartition
from runtime.eventlog.embedded import EmbeddedEventLog
from streams.runners.shuffled import ShuffledFetches

TOPIC = "justlink.police.events"


def published(tmp_path: Path) -> EmbeddedEventLog:
    log = EmbeddedEventLog(tmp_path / "log.db")
    log.create_topic(TOPIC, 4)
    log.append_many(TOPIC, [(f"案件{i % 13}".encode(), f"记录{i}".encode()) for i in range(2000)])
    return log


def fetch_all(log: EmbeddedEventLog, seed: int) -> list[tuple[int, int]]:
    consumer = ShuffledFetches(log.consumer(f"g{seed}", [TOPIC]), seed)
    got: list[tuple[int, int]] = []
    while batch := consumer.poll(100, timeout_s=0.05):
        got.extend((r.partition, r.offset) for r in batch)
    consumer.close()
    return got


def test_every_record_once_each_partition_in_order_the_interleaving_by_seed(tmp_path: Path) -> None:
    log = published(tmp_path)
    ends = log.end_offsets(TOPIC)
    orders = [fetch_all(log, seed) for seed in (1, 2)]
    for got in orders:
        assert sorted(got) == [(p, o) for p in sorted(ends) for o in range(ends[p])]
        for partition in ends:
            offsets = [o for p, o in got if p == partition]
            assert offsets == sorted(offsets)
    assert orders[0] != orders[1]
    log.close()


def test_a_seek_forgets_the_records_held(tmp_path: Path) -> None:
    log = published(tmp_path)
    consumer = ShuffledFetches(log.consumer("g", [TOPIC]), 3)
    first = consumer.poll(100, timeout_s=0.05)
    tp = TopicPartition(TOPIC, first[0].partition)
    consumer.seek(tp, 0)
    again = [r.offset for r in consumer.poll(5000, timeout_s=0.05) if r.partition == tp.partition]
    assert again[0] == 0 and again == sorted(again)
    consumer.close()
    log.close()
