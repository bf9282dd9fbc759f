"""Settings fail at start naming the bad setting; the polling SQL source reads
incrementally over any DB-API connection without skipping rows that share a timestamp."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.sdk import SqlSource
from hub.cli.main import cli
from hub.settings import SettingsError, load_settings


def test_invalid_settings_name_the_setting(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("JUSTLINK_LOG_BACKEND", "carrier-pigeon")
    with pytest.raises(SettingsError, match="setting 'log_backend' \\(env JUSTLINK_LOG_BACKEND\\)"):
        load_settings()
    monkeypatch.delenv("JUSTLINK_LOG_BACKEND")
    config = tmp_path / "justlink.toml"
    config.write_text('kafka_bootstrap_servers = "no-port-here"\nview_backend = "chdb"\n')
    monkeypatch.setenv("JUSTLINK_CONFIG", str(config))
    with pytest.raises(SettingsError, match="kafka_bootstrap_servers"):
        load_settings()
    result = CliRunner().invoke(cli, ["schemas", "list"])
    assert result.exit_code != 0 and "kafka_bootstrap_servers" in result.output


def test_settings_read_the_toml_file_and_env_overrides_it(monkeypatch, tmp_path: Path):
    config = tmp_path / "justlink.toml"
    config.write_text('log_backend = "kafka"\nkafka_bootstrap_servers = "10.0.0.1:9092,10.0.0.2:9092"\n')
    monkeypatch.setenv("JUSTLINK_CONFIG", str(config))
    monkeypatch.setenv("JUSTLINK_TOPIC_PARTITIONS", "12")
    settings = load_settings()
    assert settings.log_backend == "kafka" and settings.kafka_servers == ["10.0.0.1:9092", "10.0.0.2:9092"]
    assert settings.topic_partitions == 12


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
