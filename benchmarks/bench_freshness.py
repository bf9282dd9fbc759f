"""Freshness on the embedded deployment: publish protected agency events at a fixed rate
while the processors and the projector run in the background (as in `justlink serve`),
and measure, for probe events (every 10th), the time from the log's acknowledgement to the
event being visible in the timeline view.

"Visible" is the moment the projector's insert of the event's timeline rows returns: from then
on a history read finds them. (An earlier version polled the timeline for the probes' event ids
every 20 ms — a scan of a column outside the ORDER BY key that took CPU from the processors it
was measuring.) Each probe's latency is split where it is spent:
- processors: acknowledged -> its EventResolved appended by the processors (queueing included);
- projector: EventResolved appended -> timeline rows inserted (the projector's poll, decode, insert).

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
from runtime.topics import AGENCY_TOPICS, RESOLVED_TOPIC
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


class _Probes:
    """When each probe event was acknowledged, processed and made visible (perf_counter seconds)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[bytes, float] = {}
        self.processed: dict[bytes, float] = {}
        self.visible: dict[bytes, float] = {}

    def mark(self, stage: dict[bytes, float], keys: list[bytes]) -> None:
        now = time.perf_counter()
        with self.lock:
            for key in keys:
                if key in self.acked and key not in stage:
                    stage[key] = now


class _TimedProjector(ViewProjector):
    def __init__(self, store: Any, probes: _Probes) -> None:
        super().__init__(store)
        self.probes = probes

    def apply_records(self, records: Any) -> int:
        records = list(records)
        written = super().apply_records(records)  # the timeline rows are visible once this returns
        self.probes.mark(self.probes.visible, [r.key for r in records if r.topic == RESOLVED_TOPIC and r.key])
        return written


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    if len(ordered) < 2:
        return (float("nan"),) * 3
    q = statistics.quantiles(ordered, n=100)
    return round(q[49], 3), round(q[98], 3), round(ordered[-1], 3)


def measure(events: list[tuple[str, bytes, bytes, str]], rate: int, seconds: float, live: Path) -> dict[str, Any]:
    live.mkdir(parents=True)
    log = EmbeddedEventLog(live / "log.db")
    for topic in AGENCY_TOPICS:
        log.create_topic(topic)
    store = open_view_store(Settings(data_dir=live, clickhouse_database=f"fresh{rate}"))
    store.migrate()
    probes = _Probes()
    append_and_commit = log.append_and_commit

    def timed_append_and_commit(outputs: Any, group: str, offsets: Any) -> Any:
        appended = append_and_commit(outputs, group, offsets)
        probes.mark(probes.processed, [out[1] for out in outputs if out[0] == RESOLVED_TOPIC and out[1]])
        return appended

    log.append_and_commit = timed_append_and_commit  # type: ignore[method-assign]
    runner = EmbeddedRunner(log, Pipeline(), live / "state.pickle", batch_size=500)
    stop = threading.Event()
    cpu0 = time.process_time()
    failures: list[BaseException] = []

    def guarded(target: Any, *args: Any, **kwargs: Any) -> None:
        try:
            target(*args, **kwargs)
        except BaseException as exc:  # the measurement is void: say so instead of waiting on probes
            failures.append(exc)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(runner.run,),
                                kwargs={"until_idle": False, "stop": stop, "idle_timeout_s": 0.02}),
               threading.Thread(target=guarded, args=(run_projector, log, _TimedProjector(store, probes)),
                                kwargs={"until_idle": False, "stop": stop, "idle_timeout_s": 0.02,
                                        "batch_size": 2000})]
    for t in threads:
        t.start()
    total = min(len(events), int(rate * seconds))
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
        with probes.lock:
            for _, _, _, event_id in chunk[::10]:       # every 10th event is a probe
                probes.acked[event_id.encode()] = acked
        sleep = started + (i + step) / rate - time.perf_counter()
        if sleep > 0:
            time.sleep(sleep)
    published_in = time.perf_counter() - started
    deadline = time.perf_counter() + 120
    while len(probes.visible) < len(probes.acked) and time.perf_counter() < deadline and not stop.is_set():
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"freshness at {rate}/s: a background thread failed") from failures[0]
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - started
    store.close()
    log.close()
    seen = [k for k in probes.acked if k in probes.visible]
    total_p = _quantiles([probes.visible[k] - probes.acked[k] for k in seen])
    processors = _quantiles([probes.processed[k] - probes.acked[k] for k in seen if k in probes.processed])
    projector = _quantiles([probes.visible[k] - probes.processed[k] for k in seen if k in probes.processed])
    return {"target_rate": rate, "published": total, "achieved_rate": round(total / published_in),
            "probes": len(probes.acked), "unseen_after_120s": len(probes.acked) - len(seen),
            "p50_s": total_p[0], "p99_s": total_p[1], "max_s": total_p[2],
            "processors_p50_s": processors[0], "processors_p99_s": processors[1],
            "projector_p50_s": projector[0], "projector_p99_s": projector[1],
            "cpu_share": round(cpu / wall, 2), "target_p99_s": TARGET_P99_S}


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
