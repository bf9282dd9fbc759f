"""Run the embedded processors over a data directory (a child process the crash tests
SIGKILL): `python -m tests.support.run_processors DATA_DIR [BATCH] [SNAPSHOT_EVERY_S]`."""

from __future__ import annotations

import sys
from pathlib import Path

from runtime.eventlog.embedded import EmbeddedEventLog
from streams.pipeline import Pipeline
from streams.runners.embedded import EmbeddedRunner


def build_runner(data_dir: Path, batch_size: int = 2000, snapshot_every_s: float = 5.0) -> EmbeddedRunner:
    pipeline = Pipeline()
    return EmbeddedRunner(EmbeddedEventLog(data_dir / "log.db"), pipeline,
                          data_dir / "state" / "processors.state", batch_size=batch_size,
                          snapshot_every_s=snapshot_every_s)


if __name__ == "__main__":
    args = sys.argv[1:]
    runner = build_runner(Path(args[0]), int(args[1]) if len(args) > 1 else 2000,
                          float(args[2]) if len(args) > 2 else 5.0)
    stats = runner.run(until_idle=True)
    print(f"done {stats.events} {stats.outputs} {stats.suppressed}", flush=True)
