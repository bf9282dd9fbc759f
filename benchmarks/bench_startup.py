"""CPU seconds of one `justlink` process (issue 16.2: start-up ≤ 0.25 CPU-s per process).

Each command runs as its own process, three times; the row keeps the cheapest (user + sys of the
child, so the figure holds on a shared machine). The real runs work on a tiny county (its smallest
export and that export's events), each round on a fresh copy of the data directory it needs, so
their CPU is almost all start-up: interpreter, imports, opening the data directory, the first
name's pinyin. `--imports` adds import time by package (python -X importtime).

    python -m benchmarks.bench_startup [--quick] [--imports]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TARGET_CPU_S = 0.25
JUSTLINK = str(Path(sys.executable).parent / "justlink")


def _cpu_of(args: list[str], cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([JUSTLINK, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"justlink {' '.join(args)} failed ({done.returncode}): {done.stderr[-1500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _smallest_export(county: Path) -> tuple[str, Path]:
    manifest = json.loads((county / "manifest.json").read_text(encoding="utf-8"))
    rel, info = min(manifest["files"].items(), key=lambda kv: kv[1]["rows"])
    return info["agency"], county / rel


def commands(tmp: Path) -> list[tuple[str, list[str], Path | None]]:
    """(label, argv, the data directory each round starts from a fresh copy of, if any)."""
    county, keyed, connected = tmp / "county", tmp / "keyed", tmp / "connected"
    subprocess.run([JUSTLINK, "generate", "--out", str(county), "--persons", "60", "--seed", "5", "--quiet"],
                   check=True, capture_output=True, cwd=tmp)
    agency, export = _smallest_export(county)
    subprocess.run([JUSTLINK, "--data-dir", str(keyed), "keys", "init"], check=True, capture_output=True, cwd=tmp)
    shutil.copytree(keyed, connected)
    run_export = ["connector", "run", agency, "--source", str(export), "--no-progress"]
    subprocess.run([JUSTLINK, "--data-dir", str(connected), *run_export], check=True, capture_output=True, cwd=tmp)
    data = "{data}"
    return [
        ("justlink --version", ["--version"], None),
        ("justlink connector run --help", ["connector", "run", "--help"], None),
        ("justlink keys status", ["--data-dir", data, "keys", "status"], keyed),
        ("justlink users list", ["--data-dir", data, "users", "list"], keyed),
        (f"justlink connector run {agency}, one small export ({_rows(export)} rows)",
         ["--data-dir", data, *run_export], keyed),
        ("justlink process --no-views (that export's events)", ["--data-dir", data, "process", "--no-views"],
         connected),
        ("justlink views status (opens chDB)", ["--data-dir", data, "views", "status"], connected),
    ]


def _rows(export: Path) -> int:
    with export.open("rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)


def run(quick: bool, rounds: int | None = None) -> list[dict[str, Any]]:
    rounds = rounds or (2 if quick else 3)
    rows = []
    with tempfile.TemporaryDirectory(prefix="justlink-bench-startup-") as name:
        tmp = Path(name)
        for label, args, start in commands(tmp):
            cpu = []
            for n in range(rounds):
                data = tmp / f"round-{len(rows)}-{n}"
                if start is not None:
                    shutil.copytree(start, data)
                cpu.append(_cpu_of([a.replace("{data}", str(data)) for a in args], tmp))
            rows.append({"command": label, "cpu_s": round(min(cpu), 3), "cpu_s_max": round(max(cpu), 3),
                         "runs": rounds, "target_cpu_s": TARGET_CPU_S})
    return rows


def top_imports(args: list[str], count: int = 10) -> list[tuple[str, float]]:
    """Import time (seconds, wall: -X importtime) summed by top-level package, the `count` largest."""
    code = ("import sys; sys.argv = ['justlink', *sys.argv[1:]]; from hub.cli.main import cli\n"
            "try:\n    cli(prog_name='justlink')\nexcept SystemExit:\n    pass")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True,
                          timeout=300)
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        own = parts[0].rsplit(":", 1)[-1].strip()
        package = parts[2].strip().split(".")[0]
        if own.isdigit():
            found[package] = found.get(package, 0.0) + int(own) / 1e6
    return sorted(found.items(), key=lambda kv: -kv[1])[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two rounds instead of three")
    parser.add_argument("--imports", action="store_true", help="also list the heaviest imports of connector run")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    width = max(len(r["command"]) for r in rows)
    print(f"{'command':<{width}}  {'CPU s (best)':>12}  {'worst':>6}   target ≤ {TARGET_CPU_S} CPU-s")
    for r in rows:
        print(f"{r['command']:<{width}}  {r['cpu_s']:>12.3f}  {r['cpu_s_max']:>6.3f}")
    if args.imports:
        print("\nimport time of `justlink connector run --help` by top-level package (wall, -X importtime):")
        for module, seconds in top_imports(["connector", "run", "--help"]):
            print(f"  {seconds:6.3f} s  {module}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
