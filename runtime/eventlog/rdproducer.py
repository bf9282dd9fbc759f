"""Appends to Kafka through librdkafka (confluent-kafka): the producer behind `KafkaEventLog.append_many`.

kafka-python builds every record batch in Python, ~40-70 µs of CPU per 1.5 kB record on this machine;
librdkafka does it in C for ~5-10 µs (`python -m benchmarks.bench_workers`, same broker, same run). A worker
appends ~9 records per agency event, so the producer was a third of its work. Reading (consumer groups,
rebalances, seeks) stays on kafka-python.

Same guarantees as before: an idempotent producer (acks from every in-sync replica, retries without
duplicates or reordering), the partition chosen by the caller (the murmur2 partitioner both logs share),
and `append` returns only once every record is acknowledged — or raises `AppendFailed`, naming the
partition, after which the caller drops this producer (what it still held is purged, never sent later).
librdkafka's own log lines go to the Python logger `justlink.kafka.librdkafka` (no record content is in
them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

RdKafkaException = KafkaException

LOG = logging.getLogger("justlink.kafka.librdkafka")


class AppendFailed(Exception):
    def __init__(self, partition: int | None, cause: str) -> None:
        super().__init__(cause)
        self.partition = partition
        self.cause = cause


class RdProducer:
    def __init__(self, servers: Sequence[str], client_id: str, security: dict[str, Any], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._producer = Producer({
            "bootstrap.servers": ",".join(servers), "client.id": client_id, **security,
            "enable.idempotence": True, "acks": "all", "linger.ms": 5, "batch.size": 256 * 1024,
            "message.max.bytes": 8 * 1024 * 1024, "message.timeout.ms": int(timeout_s * 2000),
            "socket.timeout.ms": int(timeout_s * 1000), "logger": LOG,
        })

    def append(self, topic: str, items: Sequence[tuple[bytes | None, bytes, Sequence[tuple[str, bytes]]]],
               partitions: Sequence[int]) -> list[tuple[int, int]]:
        """(partition, offset) of each record, once all are acknowledged."""
        done: list[Any] = [None] * len(items)
        deadline = time.monotonic() + self.timeout_s
        produce = self._producer.produce
        for index, ((key, value, headers), partition) in enumerate(zip(items, partitions, strict=True)):
            while True:
                try:
                    produce(topic, value, key, partition=partition, headers=list(headers) or None,
                            on_delivery=partial(_delivered, done, index))
                    break
                except BufferError:   # librdkafka's queue is full: let it send, then try again
                    if time.monotonic() > deadline:
                        raise AppendFailed(partition, "the producer's queue stayed full") from None
                    self._producer.poll(0.05)
                except KafkaException as exc:
                    raise AppendFailed(partition, _reason(exc.args[0] if exc.args else exc)) from exc
        left = self._producer.flush(max(0.0, deadline - time.monotonic()))
        if left:
            raise AppendFailed(None, f"{left} of {len(items)} records not acknowledged in time")
        for index, outcome in enumerate(done):
            if not isinstance(outcome, tuple):
                raise AppendFailed(partitions[index], _reason(outcome))
        return done

    def abandon(self) -> None:
        """Drop what is still queued or in flight: nothing of it is sent later."""
        try:
            self._producer.purge()
            self._producer.flush(0)
        except (KafkaException, RuntimeError):
            pass

    def close(self, timeout_s: float) -> None:
        if self._producer.flush(timeout_s):
            self.abandon()


def _delivered(done: list[Any], index: int, err: KafkaError | None, msg: Any) -> None:
    done[index] = err if err is not None else (msg.partition(), msg.offset())


def _reason(error: object) -> str:
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return "no acknowledgement" if error is None else repr(error)
