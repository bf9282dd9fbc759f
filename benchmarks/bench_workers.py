"""The partitioned deployment against the embedded runner, on the same county: events per CPU-second of
one `justlink worker` (the staged topology over the suite's Kafka-protocol broker) next to the embedded
runner's, the time from spawning a worker to its first output, and one worker against two (their CPU
per event, and the wall-clock speed-up — on this 2-core machine the broker shares the cores). Where the
difference goes: the records a worker consumes and produces per agency event (from its own count when it
stops), the group join (from its log), and what the Kafka clients cost per record: the event log's append
(librdkafka, runtime/eventlog/rdproducer.py) and fetch (kafka-python), next to kafka-python's producer (the
event log's until it cost a third of a worker's CPU) and librdkafka's producer alone — same broker, same run.

    python -m benchmarks.bench_workers [--persons N] [--quick]

CPU is the worker processes' own (user + sys from the kernel when they exit), so the broker's and
this script's work is not counted; the embedded runner is measured in this process over the same
records, decode and encode included.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_connectors import print_table
from runtime.eventlog.embedded import EmbeddedEventLog
from streams.pipeline import Pipeline
from streams.runners.embedded import EmbeddedRunner
from tests.support.faust_worker import (
    ResolvedProgress,
    TopicReader,
    agency_records,
    copy_to_kafka,
    publish_county_embedded,
    start_worker,
    stop,
)
from tests.support.kafka_broker import TansuBroker

STAGE_PARTITIONS = 4


def embedded(data: Path) -> dict[str, Any]:
    log = EmbeddedEventLog(data / "log.db")
    runner = EmbeddedRunner(log, Pipeline.default(), data / "state" / "bench.state")
    cpu0 = time.process_time()
    stats = runner.run(until_idle=True, idle_timeout_s=0.05)
    cpu = time.process_time() - cpu0
    log.close()
    return {"events": stats.events, "cpu_s": cpu}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


STOPPED = re.compile(rb"worker stopped: ([\d,]+) records handled, ([\d,]+) outputs")
STAMP = rb"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO kafka\.coordinator: "
JOINING = re.compile(STAMP + rb"\(Re-\)joining group")
JOINED = re.compile(STAMP + rb"Successfully joined group")


def log_figures(logs: list[Path]) -> dict[str, Any]:
    """Records handled and produced (each worker's own count when it stops), and the first group join
    (its first JoinGroup to its first 'joined'), from the workers' logs."""
    from datetime import datetime

    handled = produced = 0
    joins = []
    for path in logs:
        text = path.read_bytes()
        for m in STOPPED.finditer(text):
            handled += int(m.group(1).replace(b",", b""))
            produced += int(m.group(2).replace(b",", b""))
        joining, joined = JOINING.search(text), JOINED.search(text)
        if joining and joined:
            at = [datetime.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S,%f") for m in (joining, joined)]
            joins.append((at[1] - at[0]).total_seconds())
    return {"handled": handled, "produced": produced, "join_s": round(min(joins), 2) if joins else None}


def client_costs(work: Path, records: int = 20_000) -> list[dict[str, Any]]:
    """CPU per record of the Kafka clients on the suite's broker, with records shaped like a worker's (a
    PartyOccurrence's size, its four headers): KafkaEventLog's append and a fetch of the same records,
    kafka-python's producer, and librdkafka's producer alone (confluent-kafka; clients' threads included)."""
    from confluent_kafka import Producer
    from kafka import KafkaProducer

    from runtime.eventlog.kafka import KafkaEventLog

    value = bytes(range(256)) * 6
    headers = (("event_type", b"PartyOccurrence"), ("content-type", b"application/avro"), ("schema_id", b"42"),
               ("traceparent", b"00-" + b"a1" * 16 + b"-" + b"b2" * 8 + b"-01"))
    items = [(f"key-{i}".encode(), value, headers) for i in range(records)]
    with TansuBroker(log_path=work / "tansu-clients.log") as broker:
        log = KafkaEventLog(broker.bootstrap)
        try:
            for topic in ("bench.python", "bench.librdkafka", "bench.kafka-python"):
                log.create_topic(topic, 4)
            log.append_many("bench.python", items[:1])   # connect first
            cpu0 = time.process_time()
            for start in range(1, records, 2000):
                log.append_many("bench.python", items[start:start + 2000])
            append = (time.process_time() - cpu0) / (records - 1)
            consumer = log.consumer("bench", ["bench.python"])
            consumer.poll(1, timeout_s=5.0)
            fetched, cpu0 = 1, time.process_time()
            while fetched < records:
                batch = consumer.poll(2000, timeout_s=5.0)
                assert batch, "the records appended did not come back"
                fetched += len(batch)
            fetch = (time.process_time() - cpu0) / (fetched - 1)
            consumer.close()
        finally:
            log.close()
        python = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                               batch_size=256 * 1024)
        python.send("bench.kafka-python", value, b"key", partition=0).get(30)
        cpu0 = time.process_time()
        for start in range(1, records, 2000):
            sent = [python.send("bench.kafka-python", value, items[i][0], partition=i % 4, headers=list(headers))
                    for i in range(start, min(records, start + 2000))]
            python.flush(30)
            assert all(future.get(30) for future in sent), "kafka-python's appends were not acknowledged"
        kafka_python = (time.process_time() - cpu0) / (records - 1)
        python.close(30)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5})
        producer.produce("bench.librdkafka", value, b"key", partition=0)
        producer.flush(30)
        failed: list[Any] = []
        cpu0 = time.process_time()
        for start in range(1, records, 2000):
            for i in range(start, min(records, start + 2000)):
                producer.produce("bench.librdkafka", value, items[i][0], partition=i % 4, headers=list(headers),
                                 on_delivery=lambda err, _msg: failed.append(err) if err else None)
            assert producer.flush(30) == 0 and not failed, "librdkafka's appends were not acknowledged"
        librdkafka = (time.process_time() - cpu0) / (records - 1)
    return [{"runner": "Kafka client CPU per record (1.5 kB, 4 headers)",
             "event_log_append_us": round(append * 1e6, 1), "event_log_fetch_us": round(fetch * 1e6, 1),
             "kafka_python_append_us": round(kafka_python * 1e6, 1), "librdkafka_append_us": round(librdkafka * 1e6, 1)}]


def workers(rows: list[tuple[str, bytes | None, bytes]], count: int, work: Path) -> dict[str, Any]:
    """`count` workers on a fresh broker until every agency event is resolved; their CPU and wall time."""
    with TansuBroker(log_path=work / f"tansu-{count}.log") as broker:
        copy_to_kafka(rows, broker.bootstrap, output_partitions=STAGE_PARTITIONS)
        progress = ResolvedProgress(TopicReader(broker.bootstrap, ["justlink.resolved"]))
        cpu0 = children_cpu()
        spawned = time.perf_counter()
        children: list[subprocess.Popen[bytes]] = [
            start_worker(broker.bootstrap, work / f"w{count}-{i}", work / f"w{count}-{i}.log",
                         partitions=STAGE_PARTITIONS, batch_size=2000, tick_every_s=60.0, engine="partitioned")
            for i in range(count)]
        try:
            progress.wait_for(1, timeout_s=120, child=children[0])
            first = time.perf_counter() - spawned
            progress.wait_for(len(rows), timeout_s=1800, child=children[0])
            done = time.perf_counter() - spawned
        finally:
            for child in children:
                stop(child, grace_s=30)
            progress.reader.close()
        cpu = children_cpu() - cpu0
    logs = log_figures([work / f"w{count}-{i}.log" for i in range(count)])
    return {"workers": count, "events": len(rows), "first_output_s": round(first, 2), "wall_s": round(done, 2),
            "cpu_s": round(cpu, 2), **logs}


def idle_worker_cpu(work: Path) -> float:
    """CPU of a worker that starts, joins the group, finds nothing to do and stops: its start-up."""
    with TansuBroker(log_path=work / "tansu-idle.log") as broker:
        copy_to_kafka([], broker.bootstrap, output_partitions=STAGE_PARTITIONS)
        cpu0 = children_cpu()
        child = start_worker(broker.bootstrap, work / "idle", work / "idle.log", partitions=STAGE_PARTITIONS,
                             tick_every_s=60.0, engine="partitioned")
        log = work / "idle.log"
        deadline = time.monotonic() + 120
        while b"Setting newly assigned partitions" not in log.read_bytes():   # joined: started up
            assert time.monotonic() < deadline and child.poll() is None, "the idle worker did not join"
            time.sleep(0.05)
        stop(child, grace_s=30)
        return children_cpu() - cpu0


def run(quick: bool, persons: int | None = None) -> list[dict[str, Any]]:
    persons = persons or (3_000 if quick else 20_000)
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        base = Path(tmp)
        data = publish_county_embedded(base, persons, seed=9)
        rows = agency_records(data)
        emb = embedded(data)
        startup = idle_worker_cpu(base)
        one = workers(rows, 1, base)
        two = workers(rows, 2, base)
        clients = client_costs(base)
    per_cpu = emb["events"] / emb["cpu_s"]
    results = [{"runner": "embedded (in process)", "events": emb["events"], "cpu_s": round(emb["cpu_s"], 2),
                "events_per_cpu_s": round(per_cpu), "of_embedded": 1.0}]
    for r in (one, two):
        worker_per_cpu = r["events"] / r["cpu_s"]
        working = r["events"] / max(1e-9, r["cpu_s"] - r["workers"] * startup)
        results.append({"runner": f"{r['workers']} partitioned worker(s) on the broker", "events": r["events"],
                        "cpu_s": r["cpu_s"], "events_per_cpu_s": round(worker_per_cpu),
                        "of_embedded": round(worker_per_cpu / per_cpu, 2),
                        "events_per_cpu_s_after_startup": round(working),
                        "of_embedded_after_startup": round(working / per_cpu, 2),
                        "first_output_s": r["first_output_s"], "group_join_s": r["join_s"], "wall_s": r["wall_s"],
                        "records_in_per_event": round(r["handled"] / r["events"], 1),
                        "records_out_per_event": round(r["produced"] / r["events"], 1)})
    results.append({"runner": "worker start-up (spawn, imports, topics, group join)", "cpu_s": round(startup, 2)})
    results.append({"runner": "1 -> 2 workers", "wall_speedup": round(one["wall_s"] / two["wall_s"], 2),
                    "cpu_per_event_ratio": round((two["cpu_s"] / two["events"]) / (one["cpu_s"] / one["events"]), 2),
                    "load_avg_1m": round(os.getloadavg()[0], 1)})
    return results + clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = run(args.quick, args.persons)
    print_table(rows)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
