"""Settings fail at start naming the bad setting; the TOML file and the environment both set them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.main import cli
from runtime.settings import SettingsError, load_settings


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
