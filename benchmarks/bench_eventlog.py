"""Event log benchmark: append and consume throughput of the embedded and Kafka backends.

Records: "200B" (200 random bytes) and "avro~600B" (600 random bytes, the size of a
typical Avro-encoded protected event), each with a 20-byte person key. Appends go through
append_many in batches of 10,000 (one transaction / one flush each); "single" is
append() one record at a time, each waiting for its acknowledgement. Consume is one
consumer from the beginning, polling 5,000 at a time, until it has every record.

    .venv/bin/python -m benchmarks.bench_eventlog                       # embedded, 200k records
    .venv/bin/python -m benchmarks.bench_eventlog --quick               # 20k records
    .venv/bin/python -m benchmarks.bench_eventlog --start-broker        # + Kafka on a local Tansu
    .venv/bin/python -m benchmarks.bench_eventlog --kafka 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from runtime.eventlog.base import EventLog
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.eventlog.kafka import KafkaEventLog

RECORD_SIZES = {"200B": 200, "avro~600B": 600}
BATCH = 10_000
PARTITIONS = 4


def _records(n: int, size: int) -> list[tuple[bytes | None, bytes]]:
    pool = [os.urandom(size) for _ in range(64)]
    return [(f"person-{i:013d}".encode(), pool[i % 64]) for i in range(n)]


def _measure(log: EventLog, backend: str, label: str, size: int, n: int, single_n: int) -> dict[str, Any]:
    topic = f"bench-{label.replace('~', '-')}-{uuid.uuid4().hex[:8]}"
    log.create_topic(topic, PARTITIONS)
    records = _records(n, size)

    started = time.perf_counter()
    for start in range(0, n, BATCH):
        log.append_many(topic, records[start:start + BATCH])
    append_s = time.perf_counter() - started

    started = time.perf_counter()
    for key, value in records[:single_n]:
        log.append(topic, value, key=key)
    single_s = time.perf_counter() - started

    total = n + single_n
    consumed = 0
    deadline = time.monotonic() + 120
    with log.consumer(f"bench-{uuid.uuid4().hex[:8]}", [topic]) as consumer:
        started = time.perf_counter()
        while consumed < total and time.monotonic() < deadline:
            consumed += len(consumer.poll(max_records=5000, timeout_s=1.0))
        consume_s = time.perf_counter() - started
    if consumed < total:
        raise RuntimeError(f"{backend}: consumed {consumed} of {total} records of {topic} in 120 s")
    return {"bench": "eventlog", "backend": backend, "record": label, "n": n,
            "append_rec_s": round(n / append_s), "single_append_rec_s": round(single_n / single_s),
            "consume_rec_s": round(total / consume_s), "load_avg_1m": round(os.getloadavg()[0], 2)}


def run(quick: bool, kafka: str | None = None, start_broker: bool = False) -> list[dict[str, Any]]:
    """Rows: backend, record, n, append/consume records per second (embedded always,
    Kafka when `kafka` is "host:port" or `start_broker` starts a local Tansu)."""
    n = 20_000 if quick else 200_000
    single_n = 500 if quick else 2_000
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-eventlog-") as data_dir:
        with EmbeddedEventLog(Path(data_dir) / "log.db") as log:
            for label, size in RECORD_SIZES.items():
                rows.append(_measure(log, "embedded", label, size, n, single_n))
    broker = None
    if start_broker and kafka is None:
        from tests.support.kafka_broker import TansuBroker

        broker = TansuBroker()
        broker.start()
        kafka = broker.bootstrap
    try:
        if kafka is not None:
            with KafkaEventLog(kafka, timeout_s=60) as log:
                for label, size in RECORD_SIZES.items():
                    rows.append(_measure(log, "kafka", label, size, n, single_n))
    finally:
        if broker is not None:
            broker.stop()
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("backend", "record", "n", "append rec/s", "single append rec/s", "consume rec/s")
    lines = [f"{header[0]:<9} {header[1]:<10} {header[2]:>8} {header[3]:>13} {header[4]:>20} {header[5]:>14}"]
    for row in rows:
        lines.append(f"{row['backend']:<9} {row['record']:<10} {row['n']:>8} {row['append_rec_s']:>13,} "
                     f"{row['single_append_rec_s']:>20,} {row['consume_rec_s']:>14,}")
    loads = [row["load_avg_1m"] for row in rows]
    lines.append(f"(1-minute load average during the runs: {min(loads):g}-{max(loads):g} on {os.cpu_count()} cores)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_eventlog", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k records instead of 200k")
    parser.add_argument("--kafka", metavar="HOST:PORT", help="also benchmark this Kafka-protocol broker")
    parser.add_argument("--start-broker", action="store_true", help="also benchmark a Tansu broker started here")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON lines too")
    args = parser.parse_args(argv)
    rows = run(args.quick, kafka=args.kafka, start_broker=args.start_broker)
    print(_table(rows))
    if args.json:
        for row in rows:
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
