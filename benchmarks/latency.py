"""Latency samples for the benchmarks: wall time and CPU time per call, and a result row
with p50 / p99 / max. On a shared machine the gap between wall and CPU time is time spent
waiting for a core or the disk."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class LatencyClock:
    def __init__(self, cpu_clock: Callable[[], float] = time.thread_time) -> None:
        self.cpu_clock = cpu_clock
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> LatencyClock:
        self._wall, self._cpu = time.perf_counter(), self.cpu_clock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu.append(self.cpu_clock() - self._cpu)
        self.wall.append(time.perf_counter() - self._wall)


def percentile_ms(values: list[float], p: float, digits: int = 4) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, digits)


def latency_row(case: str, clock: LatencyClock, digits: int = 4, **extra: Any) -> dict[str, Any]:
    return {"case": case, "n": len(clock.wall), "p50_ms": percentile_ms(clock.wall, 0.5, digits),
            "p99_ms": percentile_ms(clock.wall, 0.99, digits), "max_ms": percentile_ms(clock.wall, 1.0, digits),
            "cpu_p50_ms": percentile_ms(clock.cpu, 0.5, digits), "cpu_p99_ms": percentile_ms(clock.cpu, 0.99, digits),
            **extra}
