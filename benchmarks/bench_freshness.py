"""Freshness on the embedded deployment: publish protected agency events at a fixed rate
while the processors and the projector run in the background (as in `justlink serve`),
and measure, for probe events, the time from the log's acknowledgement to the event
being visible in a person's timeline view.

    python -m benchmarks.bench_freshness [--quick] [--rates 5000,1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_connectors import print_table
from benchmarks.bench_connectors import run_on as publish_county
from connectors.synthetic.generator import generate
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.settings import Settings
from runtime.topics import AGENCY_TOPICS
from runtime.viewstore import open_view_store
from schemas.wire import default_codec
from streams.pipeline import Pipeline
from streams.runners.embedded import EmbeddedRunner
from streams.runners.views import run_projector
from streams.views.projector import ViewProjector

TARGET_P99_S = 1.0


def staged_events(persons: int, tmp: Path) -> list[tuple[str, bytes, bytes, str]]:
    """(topic, key, value, event_id) of a county's protected events, in publish order."""
    county, data = tmp / "county", tmp / "staging"
    generate(county, persons, seed=8)
    data.mkdir()
    publish_county(county, data)
    log = EmbeddedEventLog(data / "log.db")
    consumer = log.consumer("stage", list(AGENCY_TOPICS))
    codec = default_codec()
    out = []
    while batch := consumer.poll(10_000, timeout_s=0.1):
        for r in batch:
            out.append((r.topic, r.key, r.value, codec.decode(r.value)[1]["envelope"]["event_id"]))
    consumer.close()
    log.close()
    return out


def measure(events: list[tuple[str, bytes, bytes, str]], rate: int, seconds: float, live: Path) -> dict[str, Any]:
    live.mkdir(parents=True)
    log = EmbeddedEventLog(live / "log.db")
    for topic in AGENCY_TOPICS:
        log.create_topic(topic)
    store = open_view_store(Settings(data_dir=live, clickhouse_database=f"fresh{rate}"))
    store.migrate()
    pipeline = Pipeline()
    runner = EmbeddedRunner(log, pipeline, live / "state.pickle", batch_size=500)
    stop = threading.Event()
    threads = [threading.Thread(target=runner.run, kwargs={"until_idle": False, "stop": stop, "idle_timeout_s": 0.02}),
               threading.Thread(target=run_projector, args=(log, ViewProjector(store)),
                                kwargs={"until_idle": False, "stop": stop, "idle_timeout_s": 0.02,
                                        "batch_size": 2000})]
    for t in threads:
        t.start()
    total = min(len(events), int(rate * seconds))
    probes: dict[str, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def poll_views() -> None:
        while not done.is_set() or probes:
            with lock:
                pending = list(probes)[:500]
            if pending:
                seen = store.query_rows("SELECT DISTINCT event_id FROM timeline WHERE event_id IN {ids:Array(String)}",
                                        {"ids": pending})
                now = time.perf_counter()
                with lock:
                    for (event_id,) in seen:
                        if event_id in probes:
                            latencies.append(now - probes.pop(event_id))
            if done.is_set() and time.perf_counter() > deadline:
                break
            time.sleep(0.02)

    deadline = float("inf")
    poller = threading.Thread(target=poll_views)
    poller.start()
    started = time.perf_counter()
    step = max(1, rate // 100)           # publish in 10 ms slices
    for i in range(0, total, step):
        chunk = events[i:i + step]
        by_topic: dict[str, list[tuple[bytes, bytes]]] = {}
        for topic, key, value, _ in chunk:
            by_topic.setdefault(topic, []).append((key, value))
        for topic, items in by_topic.items():
            log.append_many(topic, items)
        acked = time.perf_counter()
        with lock:
            for _, _, _, event_id in chunk[::10]:       # every 10th event is a probe
                probes[event_id] = acked
        sleep = started + (i + step) / rate - time.perf_counter()
        if sleep > 0:
            time.sleep(sleep)
    published_in = time.perf_counter() - started
    deadline = time.perf_counter() + 60
    done.set()
    poller.join()
    stop.set()
    for t in threads:
        t.join()
    unseen = len(probes)
    store.close()
    log.close()
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    return {"target_rate": rate, "published": total, "achieved_rate": round(total / published_in),
            "probes": len(lat) + unseen, "unseen_after_60s": unseen, "p50_s": round(q[49], 3),
            "p99_s": round(q[98], 3), "max_s": round(lat[-1], 3) if lat else None, "target_p99_s": TARGET_P99_S}


def run(quick: bool, rates: tuple[int, ...] = (5000, 1000)) -> list[dict[str, Any]]:
    seconds = 4.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as tmp:
        events = staged_events(15_000 if quick else 60_000, Path(tmp))
        return [measure(events, rate, seconds, Path(tmp) / f"live-{rate}") for rate in rates]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rates", default="5000,1000")
    args = parser.parse_args(argv)
    print_table(run(args.quick, tuple(int(r) for r in args.rates.split(","))))


if __name__ == "__main__":
    main()
