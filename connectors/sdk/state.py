"""What a connector remembers between runs: per source, the checkpoint after the last
record whose events the log acknowledged, and the event ids it published (so a re-run
over the same input counts duplicates instead of publishing them again), each with a
fingerprint of its content (connectors/sdk/fingerprint.py: keyed hashes under a random key of this
database, never the content itself), so that a record re-delivered with other content under the same
record key and version is told from a duplicate, and what changed is named.

Both are written in one SQLite transaction, only after the log acknowledged the batch.
A crash between the acknowledgement and this commit re-reads that batch next time; its
events are published again with the same ids and consumers de-duplicate them.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Mapping
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
        if "digest" not in {row[1] for row in self.db.execute("PRAGMA table_info(published)")}:
            try:
                self.db.execute("ALTER TABLE published ADD COLUMN digest TEXT")   # NULL: published before digests
            except sqlite3.OperationalError as exc:   # another connector process added it just now
                if "duplicate column" not in str(exc):
                    raise
        self.db.execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB)")
        self.db.execute("INSERT OR IGNORE INTO secrets VALUES ('content', ?)", (secrets.token_bytes(32),))
        self._content_key: bytes = self.db.execute("SELECT value FROM secrets WHERE name='content'").fetchone()[0]

    @property
    def content_key(self) -> bytes:
        """The key of the content fingerprints (connectors/sdk/fingerprint.py); it never leaves this database."""
        return self._content_key

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

    def published_digests(self, event_ids: Iterable[str]) -> dict[str, str | None]:
        """Of `event_ids`, those published before, with their content's fingerprint (None when published
        before fingerprints were kept)."""
        ids = list(event_ids)
        found: dict[str, str | None] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT event_id, digest FROM published WHERE event_id IN ({marks})",
                                         chunk).fetchall())
        return found

    def commit(self, connector: str, source: str, checkpoint: str | None, event_ids: Iterable[str],
               digests: Mapping[str, str] | None = None) -> None:
        """Record the checkpoint and the ids published (dead letters' too), with their fingerprints."""
        digests = digests or {}
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT OR IGNORE INTO published VALUES (?, ?)",
                                ((e, digests.get(e)) for e in event_ids))
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
