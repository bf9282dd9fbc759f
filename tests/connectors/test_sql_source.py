"""The polling SQL source reads incrementally over any DB-API connection without skipping rows that
share a timestamp."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from connectors.sdk import SqlSource


def test_sql_source_is_incremental_and_skips_no_ties(tmp_path: Path):
    db = tmp_path / "agency.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE cases (case_no TEXT PRIMARY KEY, updated_at TEXT, cause TEXT)")
    conn.executemany("INSERT INTO cases VALUES (?, ?, ?)",
                     [(f"C{i:03d}", f"2025-01-0{1 + i // 4} 08:00", "邻里") for i in range(12)])
    conn.commit()
    source = SqlSource(lambda: sqlite3.connect(db), "cases", incremental_column="updated_at",
                       key_column="case_no", batch_size=3)   # batches cut through ties on updated_at
    first = list(source.records())
    assert [r.data["case_no"] for r in first] == [f"C{i:03d}" for i in range(12)]
    conn.execute("INSERT INTO cases VALUES ('C100', '2025-01-03 08:00', '借贷')")   # ties the last timestamp
    conn.execute("INSERT INTO cases VALUES ('C200', '2025-02-01 09:00', '借贷')")
    conn.commit()
    more = list(source.records(after=first[-1].checkpoint))
    assert [r.data["case_no"] for r in more] == ["C100", "C200"]
    assert more[0].position == "cases:C100"
