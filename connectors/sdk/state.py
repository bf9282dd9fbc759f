"""What a connector remembers between runs: per source, the checkpoint after the last
record whose events the log acknowledged, and the event ids it published (so a re-run
over the same input counts duplicates instead of publishing them again).

Both are written in one SQLite transaction, only after the log acknowledged the batch.
A crash between the acknowledgement and this commit re-reads that batch next time; its
events are published again with the same ids and consumers de-duplicate them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from runtime.datadir import private_file


class ConnectorState:
    def __init__(self, path: Path) -> None:
        private_file(path)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS checkpoints (connector TEXT, source TEXT, checkpoint TEXT, "
                        "PRIMARY KEY (connector, source))")
        self.db.execute("CREATE TABLE IF NOT EXISTS published (event_id TEXT PRIMARY KEY) WITHOUT ROWID")

    def checkpoint(self, connector: str, source: str) -> str | None:
        row = self.db.execute("SELECT checkpoint FROM checkpoints WHERE connector=? AND source=?",
                              (connector, source)).fetchone()
        return row[0] if row else None

    def already_published(self, event_ids: Iterable[str]) -> set[str]:
        ids = list(event_ids)
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(
                f"SELECT event_id FROM published WHERE event_id IN ({marks})", chunk))
        return found

    def commit(self, connector: str, source: str, checkpoint: str | None, event_ids: Iterable[str]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT OR IGNORE INTO published VALUES (?)", ((e,) for e in event_ids))
            if checkpoint is not None:
                self.db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)", (connector, source, checkpoint))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def reset(self, connector: str, source: str) -> None:
        self.db.execute("DELETE FROM checkpoints WHERE connector=? AND source=?", (connector, source))

    def close(self) -> None:
        self.db.close()
