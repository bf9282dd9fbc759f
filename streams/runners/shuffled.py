"""A consumer that interleaves its partitions at random: the fetch orders a cluster can produce (one broker
slow, one partition far behind the others), on purpose and by seed.

Each partition's records keep their order; what changes is which partition's records come next and how
far one partition runs ahead of another. The partitioned worker's answers must not depend on it (the
parity test, tests/streams/test_runner_partitioned.py, runs workers with `justlink worker
--shuffle-fetches SEED`). Records are handed out only once processed positions are committed by the
runner, so a record held here when the worker dies is simply read again by the next owner.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence

from runtime.eventlog.base import Appended, Consumer, Output, Record, TopicPartition

HOLD = 0.35          # chance that a partition sits out a poll (it falls behind the others)
RUN = 48             # at most this many records of one partition in a row
BUFFER_POLLS = 4     # records held ahead, in polls' worth; a held partition past it must go on


class ShuffledFetches(Consumer):
    def __init__(self, inner: Consumer, seed: int) -> None:
        self.inner = inner
        self.rng = random.Random(seed)
        self.buffers: dict[TopicPartition, deque[Record]] = {}

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        limit = BUFFER_POLLS * max_records
        quiet = True
        if self._buffered() < limit:
            fetched = self.inner.poll(max_records, timeout_s=0.0 if self._buffered() else timeout_s)
            quiet = not fetched
            assigned = self._keep_assigned()
            for record in fetched:
                tp = TopicPartition(record.topic, record.partition)
                if tp in assigned:
                    self.buffers.setdefault(tp, deque()).append(record)
        ready = sorted((tp for tp, records in self.buffers.items() if records), key=lambda t: (t.topic, t.partition))
        if not ready:
            return []
        # nothing new: let everything drain; else some partitions sit this poll out (unless they hold too much)
        held = set() if quiet else {tp for tp in ready if self.rng.random() < HOLD
                                    and len(self.buffers[tp]) < limit}
        open_ = [tp for tp in ready if tp not in held] or ready
        batch: list[Record] = []
        while open_ and len(batch) < max_records:
            tp = self.rng.choice(open_)
            records = self.buffers[tp]
            for _ in range(min(self.rng.randint(1, RUN), max_records - len(batch), len(records))):
                batch.append(records.popleft())
            if not records:
                open_.remove(tp)
        return batch

    def _buffered(self) -> int:
        return sum(len(records) for records in self.buffers.values())

    def _keep_assigned(self) -> set[TopicPartition]:
        """Forget the records of partitions this consumer no longer reads (a rebalance took them)."""
        assigned = set(self.inner.assignment())
        for tp in [tp for tp in self.buffers if tp not in assigned]:
            del self.buffers[tp]
        return assigned

    # -- the rest is the inner consumer's, with the held records forgotten where positions move ---------
    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.buffers.pop(partition, None)
        self.inner.seek(partition, offset)

    def seek_to_beginning(self) -> None:
        self.buffers.clear()
        self.inner.seek_to_beginning()

    def position(self, partition: TopicPartition) -> int:
        held = self.buffers.get(partition)
        return held[0].offset if held else self.inner.position(partition)

    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        if offsets is None:
            offsets = {tp: self.position(tp) for tp in self.inner.assignment()}
        self.inner.commit(offsets)

    def committed(self) -> dict[TopicPartition, int]:
        return self.inner.committed()

    def assignment(self) -> list[TopicPartition]:
        return self.inner.assignment()

    def append_and_commit(self, outputs: Sequence[Output], offsets: dict[TopicPartition, int]) -> list[Appended]:
        return self.inner.append_and_commit(outputs, offsets)

    def end_offsets(self) -> dict[TopicPartition, int]:
        return self.inner.end_offsets()

    def close(self) -> None:
        self.buffers.clear()
        self.inner.close()
