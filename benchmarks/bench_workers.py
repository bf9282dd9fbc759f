"""The partitioned deployment against the embedded runner, on the same county: events per CPU-second of
one `justlink worker` (the staged topology over the suite's Kafka-protocol broker) next to the embedded
runner's, the time from spawning a worker to its first output, and one worker against two (their CPU
per event, and the wall-clock speed-up — on this 2-core machine the broker shares the cores).

    python -m benchmarks.bench_workers [--persons N] [--quick]

CPU is the worker processes' own (user + sys from the kernel when they exit), so the broker's and
this script's work is not counted; the embedded runner is measured in this process over the same
records, decode and encode included.
"""

from __future__ import annotations

import argparse
import os
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
    return {"workers": count, "events": len(rows), "first_output_s": round(first, 2), "wall_s": round(done, 2),
            "cpu_s": round(cpu, 2)}


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
                        "first_output_s": r["first_output_s"], "wall_s": r["wall_s"]})
    results.append({"runner": "worker start-up (spawn, imports, topics, group join)", "cpu_s": round(startup, 2)})
    results.append({"runner": "1 -> 2 workers", "wall_speedup": round(one["wall_s"] / two["wall_s"], 2),
                    "cpu_per_event_ratio": round((two["cpu_s"] / two["events"]) / (one["cpu_s"] / one["events"]), 2),
                    "load_avg_1m": round(os.getloadavg()[0], 1)})
    return results


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
