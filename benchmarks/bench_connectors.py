"""Connector throughput: read the county's CSV exports -> map -> validate -> protect ->
Avro-encode -> publish to the embedded log, on one core.

    python -m benchmarks.bench_connectors [--persons N] [--quick]
"""

from __future__ import annotations

import argparse
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
                 "events_per_cpu_s": round(total.events / cpu), "target": TARGET_EVENTS_PER_S,
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


def print_table(rows: list[dict[str, Any]]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(str(r.get(k, "")) for k in keys))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--persons", type=int, default=None)
    args = parser.parse_args(argv)
    print_table(run(args.quick, args.persons))


if __name__ == "__main__":
    main()
