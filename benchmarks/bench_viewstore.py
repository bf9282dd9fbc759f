"""View store benchmark: point queries by ORDER BY key and insert throughput.

Both deployments in one process over one chDB engine (chDB hosts one path per process):
the clickhouse-connect chdb interface, and clickhouse-connect over HTTP to the test server
in tests/support/clickhouse_http.py. A direct `chdb.connect` query is the engine baseline.

    .venv/bin/python -m benchmarks.bench_viewstore            # 1M rows
    .venv/bin/python -m benchmarks.bench_viewstore --quick    # 100k rows, fewer queries
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chdb

from runtime.settings import Settings
from runtime.viewstore import ViewStore, open_view_store
from tests.support.clickhouse_http import ChdbHttpServer

DATABASE = "bench_views"
POINT_QUERY = "SELECT * FROM person_records WHERE record_key = {key:String}"
POINT_QUERY_FINAL = "SELECT * FROM person_records FINAL WHERE record_key = {key:String}"
COLUMNS = ["record_key", "person_id", "event_id", "agency", "subject_key", "id_number_bi", "phone_bi",
           "name_dob_bi", "gender", "first_seen", "version"]


def _load_sql(rows: int) -> str:
    return f"""
        INSERT INTO person_records
        SELECT concat('rk-', leftPad(toString(number), 8, '0')), concat('p-', toString(number % 400000)),
               concat('e-', toString(number)), ['court', 'police', 'civil_affairs', 'justice'][number % 4 + 1],
               concat('sk-', toString(number)), hex(SHA256(toString(number))), hex(SHA256(toString(number + 1))),
               '', ['F', 'M'][number % 2 + 1], toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + number, 1
        FROM numbers({rows})
    """


def _latencies(run_one: Callable[[str], Any], keys: list[str]) -> dict[str, float]:
    for key in keys[:50]:  # warm up caches and connections
        run_one(key)
    timings = []
    for key in keys:
        started = time.perf_counter()
        run_one(key)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "queries": len(timings),
        "p50_ms": round(statistics.median(timings), 3),
        "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 3),
        "mean_ms": round(statistics.fmean(timings), 3),
    }


def _insert_rows(count: int, offset: int) -> list[list[Any]]:
    at = datetime(2024, 6, 1, tzinfo=UTC)
    return [[f"new-{offset + i:09d}", f"p-{i % 1000}", f"e-{offset + i}", "court", f"sk-{i}", f"{i:064x}",
             f"{i + 1:064x}", "", "F", at, 1] for i in range(count)]


def _insert_throughput(store: ViewStore, count: int, offset: int) -> list[dict[str, Any]]:
    rows = _insert_rows(count, offset)
    results = []
    started = time.perf_counter()
    store.insert("person_records", rows, COLUMNS)
    elapsed = time.perf_counter() - started
    results.append({"bench": "insert_rows", "backend": store.backend, "rows": count,
                    "seconds": round(elapsed, 3), "rows_per_s": round(count / elapsed)})
    columns = [list(column) for column in zip(*_insert_rows(count, offset + count), strict=True)]
    started = time.perf_counter()
    store.insert_columns("person_records", columns, COLUMNS)
    elapsed = time.perf_counter() - started
    results.append({"bench": "insert_columns", "backend": store.backend, "rows": count,
                    "seconds": round(elapsed, 3), "rows_per_s": round(count / elapsed)})
    return results


def run(quick: bool) -> list[dict[str, Any]]:
    table_rows = 100_000 if quick else 1_000_000
    query_count = 300 if quick else 2_000
    insert_count = 20_000 if quick else 100_000
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-views-") as data_dir:
        settings = Settings(data_dir=Path(data_dir), view_backend="chdb", clickhouse_database=DATABASE)
        embedded = open_view_store(settings)
        embedded.migrate()
        started = time.perf_counter()
        embedded.command(_load_sql(table_rows))
        load_s = time.perf_counter() - started
        results.append({"bench": "load_insert_select", "backend": "chdb", "rows": table_rows,
                        "seconds": round(load_s, 3), "rows_per_s": round(table_rows / load_s)})

        rng = random.Random(7)
        keys = [f"rk-{rng.randrange(table_rows):08d}" for _ in range(query_count)]
        with ChdbHttpServer(Path(data_dir) / "views") as server:
            http = open_view_store(settings.model_copy(update={
                "view_backend": "clickhouse", "clickhouse_port": server.port,
            }))
            engine = chdb.connect(str((Path(data_dir) / "views").resolve()))
            engine.query(f"USE {DATABASE}", "TabSeparated")
            try:
                baseline = _latencies(lambda k: engine.query(POINT_QUERY, "Native", params={"key": k}), keys)
                results.append({"bench": "point_query", "backend": "chdb-direct", "rows": table_rows, **baseline})
                for store in (embedded, http):
                    for name, sql in (("point_query", POINT_QUERY), ("point_query_final", POINT_QUERY_FINAL)):
                        figures = _latencies(lambda k, s=store, q=sql: s.query_rows(q, {"key": k}), keys)
                        results.append({"bench": name, "backend": store.backend, "rows": table_rows, **figures})
                for offset, store in ((0, embedded), (10 * insert_count, http)):
                    results.extend(_insert_throughput(store, insert_count, offset))
            finally:
                engine.close()
                http.close()
        embedded.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows and fewer queries (seconds, not a minute)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines")
    args = parser.parse_args(argv)
    for result in run(args.quick):
        if args.json:
            print(json.dumps(result))
        else:
            print("  ".join(f"{key}={value}" for key, value in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
