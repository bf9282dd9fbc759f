"""Connector throughput: read the county's CSV exports -> map -> validate -> protect ->
Avro-encode -> publish to the embedded log, on one core.

    python -m benchmarks.bench_connectors [--persons N] [--quick] [--ceiling]

--ceiling also runs the same work in plain Python on the same county, in the same run
(benchmarks/bench_ceiling.py's stage 1: csv, AES-GCM, HMAC blind indexes, a Bloom filter of the
name, fastavro, SQLite), best of two, and prints records per CPU-second of both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from connectors.registry import get_connector
from connectors.sdk import ConnectorRunner, ConnectorState, RunSummary
from connectors.synthetic.generator import generate
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import AGENCIES

TARGET_EVENTS_PER_S = 30_000


def run_on(county: Path, data: Path) -> list[dict[str, Any]]:
    init_keystore(data)
    keystore = open_keystore(data)
    log = EmbeddedEventLog(data / "log.db")
    state = ConnectorState(data / "connectors.db")
    rows = []
    total = RunSummary("all")
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for agency in AGENCIES:
        connector = get_connector(agency)
        runner = ConnectorRunner(connector, log, Protector(keystore), state, progress=False)
        summary = RunSummary(agency)
        for source in connector.sources(county):
            summary.add(runner.run(source))
        total.add(summary)
        rows.append({"agency": agency, "records": summary.read, "events": summary.events,
                     "dead_lettered": summary.dead_lettered, "seconds": round(summary.seconds, 2),
                     "events_per_s": round(summary.events / summary.seconds) if summary.seconds else 0})
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    rows.append({"agency": "all", "records": total.read, "events": total.events,
                 "dead_lettered": total.dead_lettered, "seconds": round(wall, 2),
                 "events_per_s": round(total.events / wall),
                 "events_per_cpu_s": round(total.events / cpu), "records_per_cpu_s": round(total.read / cpu),
                 "target": TARGET_EVENTS_PER_S,
                 "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
    log.close()
    state.close()
    keystore.close()
    return rows


def run(quick: bool, persons: int | None = None) -> list[dict[str, Any]]:
    persons = persons or (5_000 if quick else 50_000)
    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as tmp:
        county = Path(tmp) / "county"
        generate(county, persons, seed=3)
        data = Path(tmp) / "data"
        data.mkdir()
        return run_on(county, data)


def against_ceiling(persons: int) -> dict[str, Any]:
    """The project's connectors and the ceiling's, records per CPU-second, on one generated county."""
    from benchmarks.bench_ceiling import ceiling_connectors

    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as tmp:
        county = Path(tmp) / "county"
        generate(county, persons, seed=3)
        ceiling = min((ceiling_connectors(county, Path(tmp) / f"ceiling{i}.db") for i in range(2)),
                      key=lambda r: r["cpu"]["total"])
        project = []
        for i in range(2):
            data = Path(tmp) / f"data{i}"
            data.mkdir()
            project.append(run_on(county, data)[-1])
        best = max(project, key=lambda r: r["records_per_cpu_s"])
    ceiling_rate = ceiling["records"] / ceiling["cpu"]["total"]
    return {"persons": persons, "records": best["records"], "dead_lettered": best["dead_lettered"],
            "project_records_per_cpu_s": best["records_per_cpu_s"],
            "project_events_per_cpu_s": best["events_per_cpu_s"], "ceiling_records_per_cpu_s": round(ceiling_rate),
            "ceiling_cpu_s_by_phase": {k: round(v, 3) for k, v in ceiling["cpu"].items()},
            "ceiling_over_project": round(ceiling_rate / best["records_per_cpu_s"], 1),
            "load_avg_1m": round(os.getloadavg()[0], 1)}


def print_table(rows: list[dict[str, Any]]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(str(r.get(k, "")) for k in keys))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--ceiling", action="store_true", help="also the same work in plain Python, same county")
    args = parser.parse_args(argv)
    if args.ceiling:
        print_table([against_ceiling(args.persons or (5_000 if args.quick else 20_000))])
        return
    print_table(run(args.quick, args.persons))


if __name__ == "__main__":
    main()
