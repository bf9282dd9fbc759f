"""`make bench`: run every benchmark, print its rows, and rewrite the README's
performance section between the bench-table markers (with the machine they ran on).

First comes issue 16's table: each of its measures next to the ceiling measured in the same run
(benchmarks/bench_ceiling.py: the same work as a straight-line loop with the same libraries), as a
ratio, with the machine and its load average at the start and the end; then the other targets;
then each benchmark's full table with the command that reproduces it.

    python -m benchmarks.run_all [--quick] [--only ceiling,startup,query] [--no-readme]
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"

# name -> (module, title, what the issue asks for)
BENCHMARKS: dict[str, tuple[str, str, str]] = {
    "ceiling": ("benchmarks.bench_ceiling", "The project against the ceiling, same county, same run",
                "the ratios of issue 16"),
    "startup": ("benchmarks.bench_startup", "CPU of one justlink process (start-up)", "<= 0.25 CPU-s"),
    "eventlog": ("benchmarks.bench_eventlog", "Event log append / consume", "—"),
    "protection": ("benchmarks.bench_protection", "Protection cost per record", ">= 60k records/s/core"),
    "connectors": ("benchmarks.bench_connectors", "Connector throughput (CSV -> embedded log)",
                   ">= 30k events/s/core"),
    "pipeline": ("benchmarks.bench_pipeline", "Processor throughput, embedded runner", ">= 20k events/s/core"),
    "identity": ("benchmarks.bench_identity", "Person resolution quality and speed",
                 "F1 >= 0.98; identity state <= 1.0 GB at 1M persons"),
    "febrl": ("benchmarks.bench_febrl", "Person resolution on FEBRL3 / FEBRL4 against Splink and recordlinkage",
              "F1 above every peer (> 0.9969 / 0.9973), precision >= 0.999, <= 1.7 s wall"),
    "disputes": ("benchmarks.bench_disputes", "Dispute threading quality", "F1 >= 0.95"),
    "alerts": ("benchmarks.bench_alerts", "Alert evaluation", "keeps the processor target"),
    "access": ("benchmarks.bench_access", "Access decision + audit write", "<= 2 ms p99"),
    "viewstore": ("benchmarks.bench_viewstore", "View store point queries and inserts", "—"),
    "query": ("benchmarks.bench_query", "Person history through the API",
              "p99 <= 1.5x the raw chDB point query of the same run, <= 10 ms at 1M persons"),
    "freshness": ("benchmarks.bench_freshness", "Publish -> visible in the timeline", "p99 <= 1 s at 5k events/s"),
    "workers": ("benchmarks.bench_workers", "Partitioned workers on the broker against the embedded runner",
                "worker >= 80 % of the embedded runner's events per CPU-s; first output <= 1 s"),
}


def load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}; "
            f"load average {load_average()} at start")


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(_cell(r.get(k, "")) for k in keys) + " |")
    return "\n".join(out) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "/").replace("\n", " ")


def _merged(rows: list[dict[str, Any]], case: str) -> dict[str, Any]:
    """bench_query's row of `case` measured once the timeline's parts were merged."""
    return next((r for r in rows if r.get("case", "").startswith(case) and r["case"].endswith("parts merged")), {})


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    for row in rows:
        if all(str(row.get(k, "")).startswith(str(v)) for k, v in match.items()):
            return row
    return {}


def headlines(name: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(measure, value, target) rows for the summary table; [] when the rows are not recognised."""
    try:
        if name in ("ceiling", "startup"):
            return []  # in issue 16's table
        if name == "eventlog":
            r = _find(rows, backend="embedded", record="avro")
            return [("embedded log append / consume, ~600 B records",
                     f"{r['append_rec_s']:,.0f} / {r['consume_rec_s']:,.0f} rec/s", "—")]
        if name == "protection":
            r = _find(rows, case="protect_many")
            n = _find(rows, case="protect (new people")
            return [("protection, known subjects (5 fields, 4 blind indexes, 2 CLKs)",
                     f"{r['per_s']:,.0f} rec/s", "≥ 60,000 rec/s"),
                    ("protection, new subjects (new data key each)", f"{n['per_s']:,.0f} rec/s", "—")]
        if name == "connectors":
            r = _find(rows, agency="all")
            return [("connectors, CSV -> embedded log, fresh county", f"{r['events_per_cpu_s']:,.0f} events/s (CPU)",
                     "≥ 30,000 events/s")]
        if name == "pipeline":
            r = _find(rows, stage="embedded runner")
            h = _find(rows, stage="pipeline.handle")
            return [("processors on the embedded runner (decode -> identity, disputes, alerts -> encode, commit)",
                     f"{r['events_per_cpu_s']:,.0f} events/s (CPU)", "≥ 20,000 events/s"),
                    ("processors alone (pipeline.handle on decoded events)", f"{h['events_per_cpu_s']:,.0f} events/s",
                     "≥ 20,000 events/s")]
        if name == "identity":
            q = _find(rows, bench="identity_quality")
            m = _find(rows, bench="identity_memory")
            out = [(f"person resolution F1 ({q['county_persons']:,} persons, no plaintext)",
                    f"{q['occurrences']['f1']:.3f} (precision {q['occurrences']['precision']:.3f}, "
                    f"recall {q['occurrences']['recall']:.3f})", "≥ 0.98")]
            if m:
                out.append((f"identity state RSS at {m['county_persons']:,} persons", f"{m['peak_rss_mib']:,} MiB",
                            "≤ 1.0 GB at 1M persons"))
            return out
        if name == "febrl":
            out = []
            for data in ("febrl3", "febrl4"):
                mine = _find(rows, data=data, system="justlink")
                peers = [r for r in rows if r.get("data") == data and r.get("system") != "justlink" and "f1" in r]
                best = max(peers, key=lambda r: r["f1"], default=None)
                versus = f"; best peer {best['system']} {best['f1']:.4f}, {best['wall_s']:.1f} s" if best else ""
                out.append((f"{data.upper()}: `justlink resolve` F1 (precision), wall (CPU)",
                            f"{mine['f1']:.4f} ({mine['precision']:.4f}), {mine['wall_s']:.1f} s "
                            f"({mine['cpu_s']:.1f} CPU-s){versus}",
                            f"> {mine['target_f1']}, ≥ 0.999, ≤ 1.7 s"))
            return out
        if name == "disputes":
            out = [(f"dispute threading F1, {r['input']}" + (" (true person ids)" if "true" in str(r.get("persons"))
                                                               else " (ids from the identity resolver)"),
                    f"{float(r['f1']):.4f}", "≥ 0.95") for r in rows]
            return out
        if name == "alerts":
            r = rows[0]
            return [("alert evaluation alone", f"{r['alerts_events_per_s']:,.0f} events/s",
                     "keeps the processors' target")]
        if name == "access":
            r = _find(rows, case="decide + audit append")
            return [("access decision + audit append, p99", f"{r['p99_ms']:.2f} ms (CPU {r['cpu_p99_ms']:.2f} ms)",
                     "≤ 2 ms")]
        if name == "viewstore":
            r = _find(rows, bench="point_query", backend="chdb")
            return [(f"chDB point query by key, {r['rows']:,} rows", f"p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} ms",
                     "—")]
        if name == "query":
            r, m = _find(rows, case="history via API"), _merged(rows, "history via API")
            return [(f"person history via the API ({r['persons']:,} persons, {r['events']:,} rows)",
                     f"p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} ms", "p99 ≤ 10 ms at 1M persons")] + (
                [("person history via the API, timeline parts merged", f"p50 {m['p50_ms']:.1f} / p99 {m['p99_ms']:.1f} ms",
                  "p99 ≤ 10 ms at 1M persons")] if m else [])
        if name == "freshness":
            return [(f"publish -> visible in the timeline at {r['target_rate']:,}/s",
                     f"p50 {r['p50_s']:.2f} / p99 {r['p99_s']:.2f} s", "p99 ≤ 1 s at 5,000/s") for r in rows]
    except (KeyError, IndexError, TypeError, ValueError):
        return []
    return []


def _ratio_cell(row: dict[str, Any]) -> str:
    ratio = row["ratio"]
    if row["unit"] == "per CPU-s":
        return f"{ratio:.2f}" + (f" (1/{1 / ratio:.1f})" if 0 < ratio < 1 else "")
    return f"{ratio:.2f}x"


def issue16(results: dict[str, list[dict[str, Any]]], quick: bool = False) -> str:
    """Issue 16's measures: the ceiling (or the reference the issue names), the project, the ratio, and
    the command that reproduces each row."""
    lines = ["| measure | ceiling / reference (same run) | project | project / ceiling | target | command |",
             "|---|---|---|---|---|---|"]

    def command(name: str) -> str:
        return f"`python -m {BENCHMARKS[name][0]}" + (" --quick`" if quick else "`")

    def add(measure: str, ceiling: str, project: str, ratio: str, target: str, name: str) -> None:
        lines.append(f"| {measure} | {ceiling} | {project} | {ratio} | {target} | {command(name)} |")

    for row in results.get("ceiling", []):
        unit = row["unit"]
        add(row["stage"], f"{_num(row['ceiling'])} {unit}", f"{_num(row['project'])} {unit}", _ratio_cell(row),
            row["target"], "ceiling")
    startup = [r for r in results.get("startup", []) if "--help" not in r["command"] and "--version" not in r["command"]]
    for row in startup:
        add(f"CLI start-up: `{row['command']}`", "—", f"{row['cpu_s']:.2f} CPU-s", "—", "≤ 0.25 CPU-s per process",
            "startup")
    query = _find(results.get("query", []), case="history via API")
    raw = _find(results.get("query", []), case="raw chDB point query")
    if query and raw:
        add(f"person history via the API, p99 ({query['persons']:,} persons, {query['events']:,} rows; wall)",
            f"{raw['p99_ms']:.1f} ms (raw chDB point query)", f"{query['p99_ms']:.1f} ms",
            f"{query['p99_ms'] / raw['p99_ms']:.2f}x", "≤ 1.5x, and ≤ 10 ms at 1M persons", "query")
        add("person history via the API, CPU p50", f"{raw['cpu_p50_ms']:.1f} ms", f"{query['cpu_p50_ms']:.1f} ms",
            f"{query['cpu_p50_ms'] / raw['cpu_p50_ms']:.2f}x", "—", "query")
    query, raw = _merged(results.get("query", []), "history via API"), _merged(results.get("query", []), "raw chDB")
    if query and raw:
        add(f"person history via the API, p99, timeline parts merged ({query['timeline_parts']} part; wall)",
            f"{raw['p99_ms']:.1f} ms (raw chDB point query)", f"{query['p99_ms']:.1f} ms",
            f"{query['p99_ms'] / raw['p99_ms']:.2f}x", "≤ 1.5x, and ≤ 10 ms at 1M persons", "query")
        add("person history via the API, CPU p50, timeline parts merged", f"{raw['cpu_p50_ms']:.1f} ms",
            f"{query['cpu_p50_ms']:.1f} ms", f"{query['cpu_p50_ms'] / raw['cpu_p50_ms']:.2f}x", "—", "query")
    for row in results.get("freshness", []):
        add(f"freshness: publish -> visible in the timeline at {row['target_rate']:,}/s (achieved "
            f"{row['achieved_rate']:,}/s), p99", "—", f"{row['p99_s']:.2f} s", "—", "≤ 1 s at 5,000/s", "freshness")
    memory = _find(results.get("identity", []), bench="identity_memory")
    if memory:
        add(f"identity state, peak RSS at {memory['county_persons']:,} persons", "—",
            f"{memory['peak_rss_mib']:,} MiB", "—", "≤ 1.0 GB at 1M persons", "identity")
    return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def run(names: list[str], quick: bool) -> str:
    summary: list[tuple[str, str, str]] = []
    results: dict[str, list[dict[str, Any]]] = {}
    started_on = machine()
    print(f"make bench on {started_on}", flush=True)
    parts = [""]
    for name in names:
        module_name, title, target = BENCHMARKS[name]
        command = f"python -m {module_name}" + (" --quick" if quick else "")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            parts.append(f"\n### {title}\nnot run: {exc}\n")
            continue
        started = time.perf_counter()
        try:
            rows = module.run(quick)
        except Exception as exc:  # report and go on: one broken benchmark must not hide the others
            parts.append(f"\n### {title}\nfailed: {type(exc).__name__}: {exc}\n")
            continue
        seconds = time.perf_counter() - started
        results[name] = rows
        summary += headlines(name, rows)
        section = f"\n### {title}\nTarget: {target}. Command: `{command}` ({seconds:.0f} s).\n\n{table(rows)}"
        print(section, flush=True)
        parts.append(section)
    parts[0] = (f"Measured by `make bench` ({'quick' if quick else 'full'} mode) on {started_on}; "
                f"load average {load_average()} at the end; {datetime.now(UTC):%Y-%m-%d}, commit {_commit()}. "
                "Each section names the command that reproduces it. Targets are the issues'. On a shared "
                "machine wall-clock latencies carry the waits for a core; CPU figures do not.\n")
    ceiling = ("\n**Issue 16, close to the ceiling.** The ceiling is the same work as a straight-line Python loop "
               "with the same libraries (benchmarks/bench_ceiling.py), measured in the same run on the same "
               "county; throughput is per CPU-second (user + sys), so it holds on a loaded machine.\n\n"
               + issue16(results, quick)) if any(k in results for k in ("ceiling", "startup", "query", "freshness")) else ""
    head = "\n**Against the other targets.**\n\n| measure | measured | target |\n|---|---|---|\n" + "".join(
        f"| {m} | {v} | {t} |\n" for m, v, t in summary)
    body = parts[0] + ceiling + head + "".join(parts[1:])
    print("\n" + ceiling, flush=True)
    return body


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=README.parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_readme(body: str) -> None:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    README.write_text(pattern.sub(lambda _: f"{START}\n{body}\n{END}", text), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (minutes, not tens of minutes)")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--no-readme", action="store_true", help="print only; leave README.md alone")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    body = run(names, args.quick)
    if not args.no_readme:
        write_readme(body)
        print(f"\nREADME.md performance section rewritten ({len(names)} benchmarks).")


if __name__ == "__main__":
    main()
