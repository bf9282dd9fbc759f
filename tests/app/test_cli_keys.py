"""`justlink keys init|rotate|status|list` and `justlink erase`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

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


def test_erase_needs_a_dpo_token_a_request_and_a_reason(runner: CliRunner, tmp_path: Path) -> None:
    """Raw subject keys can no longer be shredded by whoever holds the shell: erasure is a DPO's audited
    decision about a person (tests/system/test_security_erasure.py walks it end to end)."""
    _run(runner, tmp_path, "keys", "init")
    bare = _run(runner, tmp_path, "erase", "--subject", "ab" * 16, "--yes")
    assert bare.exit_code == 2 and "--subject" in bare.output
    no_token = _run(runner, tmp_path, "erase", "--person", "P-1", "--request", "request:1", "--reason",
                    "subject_request", "--yes")
    assert no_token.exit_code == 2 and "--token" in no_token.output
