"""`make bench`: run every benchmark, print its rows, and rewrite the README's
performance section between the bench-table markers (with the machine they ran on).

    python -m benchmarks.run_all [--quick] [--only connectors,pipeline] [--no-readme]
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
    "eventlog": ("benchmarks.bench_eventlog", "Event log append / consume", "—"),
    "protection": ("benchmarks.bench_protection", "Protection cost per record", ">= 60k records/s/core"),
    "connectors": ("benchmarks.bench_connectors", "Connector throughput (CSV -> embedded log)",
                   ">= 30k events/s/core"),
    "pipeline": ("benchmarks.bench_pipeline", "Processor throughput, embedded runner", ">= 20k events/s/core"),
    "identity": ("benchmarks.bench_identity", "Person resolution quality and speed", "F1 >= 0.98"),
    "febrl": ("benchmarks.bench_febrl", "Person resolution on FEBRL3 / FEBRL4 against Splink and recordlinkage",
              "F1 above every peer (> 0.9969 / 0.9973), precision >= 0.999, <= 1.7 s wall"),
    "disputes": ("benchmarks.bench_disputes", "Dispute threading quality", "F1 >= 0.95"),
    "alerts": ("benchmarks.bench_alerts", "Alert evaluation", "keeps the processor target"),
    "access": ("benchmarks.bench_access", "Access decision + audit write", "<= 2 ms p99"),
    "viewstore": ("benchmarks.bench_viewstore", "View store point queries and inserts", "—"),
    "query": ("benchmarks.bench_query", "Person history through the API", "p99 <= 20 ms at 1M persons"),
    "freshness": ("benchmarks.bench_freshness", "Publish -> visible in the timeline", "p99 <= 1 s at 5k events/s"),
    "workers": ("benchmarks.bench_workers", "Partitioned workers on the broker against the embedded runner",
                "worker >= 80 % of the embedded runner's events per CPU-s; first output <= 1 s"),
}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}; "
            f"load average {load:.1f} at start")


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


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    for row in rows:
        if all(str(row.get(k, "")).startswith(str(v)) for k, v in match.items()):
            return row
    return {}


def headlines(name: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(measure, value, target) rows for the summary table; [] when the rows are not recognised."""
    try:
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
                            "≤ 1.5 GB at 1M persons"))
            return out
        if name == "febrl":
            out = []
            for data in ("febrl3", "febrl4"):
                mine = _find(rows, data=data, system="justlink")
                peers = [r for r in rows if r.get("data") == data and r.get("system") != "justlink" and "f1" in r]
                best = max(peers, key=lambda r: r["f1"], default=None)
                versus = f"; best peer {best['system']} {best['f1']:.4f}, {best['wall_s']:.1f} s" if best else ""
                out.append((f"{data.upper()}: `justlink resolve` F1 (precision), wall",
                            f"{mine['f1']:.4f} ({mine['precision']:.4f}), {mine['wall_s']:.1f} s{versus}",
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
            r = _find(rows, case="history via API")
            return [(f"person history via the API ({r['persons']:,} persons, {r['events']:,} rows)",
                     f"p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} ms", "p99 ≤ 20 ms at 1M persons")]
        if name == "freshness":
            return [(f"publish -> visible in the timeline at {r['target_rate']:,}/s",
                     f"p50 {r['p50_s']:.2f} / p99 {r['p99_s']:.2f} s", "p99 ≤ 1 s at 5,000/s") for r in rows]
    except (KeyError, IndexError, TypeError, ValueError):
        return []
    return []


def run(names: list[str], quick: bool) -> str:
    summary: list[tuple[str, str, str]] = []
    parts = [f"Measured by `make bench` ({'quick' if quick else 'full'} mode) on {machine()}, "
             f"{datetime.now(UTC):%Y-%m-%d}, commit {_commit()}. Each section names the command that "
             "reproduces it. Targets are the issues'.\n"]
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
        summary += headlines(name, rows)
        section = f"\n### {title}\nTarget: {target}. Command: `{command}` ({seconds:.0f} s).\n\n{table(rows)}"
        print(section, flush=True)
        parts.append(section)
    head = "\n| measure | measured | target |\n|---|---|---|\n" + "".join(
        f"| {m} | {v} | {t} |\n" for m, v, t in summary)
    return parts[0] + head + "".join(parts[1:])


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
