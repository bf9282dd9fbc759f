"""Processor throughput on the embedded runner (identity + disputes + alerts +
EventResolved, decode and encode included), and RSS.

    python -m benchmarks.bench_pipeline [--persons N] [--quick]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_connectors import print_table
from benchmarks.bench_connectors import run_on as publish_county
from connectors.synthetic.generator import generate
from runtime.eventlog.embedded import EmbeddedEventLog
from streams.pipeline import Pipeline
from streams.processor import DictState, Event
from streams.runners.embedded import EmbeddedRunner

TARGET_EVENTS_PER_S = 20_000


def _alerts():
    try:
        from streams.alerts.processor import AlertsProcessor
    except ImportError:
        return None
    return AlertsProcessor()


def run(quick: bool, persons: int | None = None) -> list[dict[str, Any]]:
    persons = persons or (5_000 if quick else 50_000)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        county, data = Path(tmp) / "county", Path(tmp) / "data"
        generate(county, persons, seed=3)
        data.mkdir()
        publish_county(county, data)
        log = EmbeddedEventLog(data / "log.db")
        pipeline = Pipeline(alerts=_alerts())
        runner = EmbeddedRunner(log, pipeline, data / "state.pickle")
        cpu0 = time.process_time()
        stats = runner.run()
        cpu = time.process_time() - cpu0
        rows.append({"stage": "embedded runner (decode, pipeline, encode, append+commit)", "events": stats.events,
                     "events_per_s": round(stats.rate), "events_per_cpu_s": round(stats.events / cpu),
                     "target": TARGET_EVENTS_PER_S,
                     "alerts": "on" if pipeline.alerts else "off",
                     "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
        # the processors alone, on decoded events (no log, no Avro)
        from schemas.wire import default_codec

        codec = default_codec()
        consumer = log.consumer("bench-decode", list(pipeline.input_topics))
        events = []
        while batch := consumer.poll(10_000, timeout_s=0.1):
            events += [Event(*codec.decode(r.value), r.topic, r.partition, r.offset, r.value) for r in batch]
        consumer.close()
        fresh = Pipeline(alerts=_alerts())
        state = DictState()
        t0 = time.process_time()
        for e in events:
            fresh.handle(e, state)
        t = time.process_time() - t0
        rows.append({"stage": "pipeline.handle only (decoded events)", "events": len(events),
                     "events_per_s": round(len(events) / t), "events_per_cpu_s": round(len(events) / t),
                     "target": TARGET_EVENTS_PER_S, "alerts": "on" if fresh.alerts else "off"})
        log.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--persons", type=int, default=None)
    args = parser.parse_args(argv)
    print_table(run(args.quick, args.persons))


if __name__ == "__main__":
    main()
