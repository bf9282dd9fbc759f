"""`justlink keys init|rotate|status|list` and `justlink erase`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from consent.privacy.keys import KeyErased, open_keystore
from hub.cli.main import cli


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("JUSTLINK_MASTER_KEY", raising=False)
    monkeypatch.delenv("JUSTLINK_MASTER_KEY_FILE", raising=False)
    return CliRunner()


def _run(runner: CliRunner, data_dir: Path, *args: str, input: str | None = None):
    return runner.invoke(cli, ["--data-dir", str(data_dir), *args], input=input, catch_exceptions=False)


def test_init_rotate_status(runner: CliRunner, tmp_path: Path) -> None:
    result = _run(runner, tmp_path, "keys", "init")
    assert result.exit_code == 0, result.output
    assert "created master key" in result.output and "created" in result.output
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    again = _run(runner, tmp_path, "keys", "init")
    assert again.exit_code == 0 and "already initialised" in again.output
    rotated = _run(runner, tmp_path, "keys", "rotate", "--agency", "court")
    assert rotated.exit_code == 0 and "KEK v1 -> v2" in rotated.output
    for command in ("status", "list"):
        shown = _run(runner, tmp_path, "keys", command)
        assert shown.exit_code == 0
        assert "court" in shown.output and "v2" in shown.output and "matching key: v1" in shown.output
    key_text = (tmp_path / "master.key").read_text().strip()
    assert key_text not in shown.output


def test_commands_need_a_keystore(runner: CliRunner, tmp_path: Path) -> None:
    result = _run(runner, tmp_path, "keys", "status")
    assert result.exit_code != 0 and "keys init" in result.output


def test_erase_asks_then_shreds(runner: CliRunner, tmp_path: Path) -> None:
    _run(runner, tmp_path, "keys", "init")
    subject = "ab" * 16
    store = open_keystore(tmp_path)
    store.current_deks([subject], "court")
    store.close()
    declined = _run(runner, tmp_path, "erase", "--subject", subject, input="n\n")
    assert declined.exit_code != 0 and "Aborted" in declined.output
    assert open_keystore(tmp_path).dek(subject, 1)
    confirmed = _run(runner, tmp_path, "erase", "--subject", subject, "--subject", "cd" * 16, input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    receipt = json.loads(confirmed.output.strip().splitlines()[-1])
    assert receipt["destroyed"] == [subject] and receipt["not_found"] == ["cd" * 16]
    with pytest.raises(KeyErased):
        open_keystore(tmp_path).dek(subject, 1)
    unattended = _run(runner, tmp_path, "erase", "--subject", subject, "--yes")
    assert unattended.exit_code == 0 and json.loads(unattended.output)["already_erased"] == [subject]
    bad = _run(runner, tmp_path, "erase", "--subject", "not-a-key", "--yes")
    assert bad.exit_code == 2 and "32 hex" in bad.output
