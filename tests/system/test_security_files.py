"""The data directory is private and its keystore fails by name: every file the hub writes there is
0600 and every directory 0700 (even under a permissive umask), and a damaged keystore — damaged
SQLite pages, a flipped bit in a wrapped key — is an error that names the file and the key and says
what to do, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from connectors.sdk.state import ConnectorState
from consent.access.users import UserRegistry
from consent.privacy.keys import KeystoreDamaged, init_keystore, open_keystore
from runtime.eventlog.embedded import EmbeddedEventLog
from tests.support.serve_process import JUSTLINK, justlink_env

pytestmark = pytest.mark.slow


def _justlink(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JUSTLINK, *args], cwd=data.parent, env=justlink_env(data), capture_output=True,
                          text=True, timeout=600, preexec_fn=lambda: os.umask(0o022))


def _loose(data: Path) -> list[str]:
    """Paths in the data directory that group or others could read."""
    loose = []
    for path in [data, *data.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & 0o077:
            loose.append(f"{path.relative_to(data.parent)} {stat.filemode(mode)}")
    return loose


def test_a_cli_run_leaves_only_private_files_under_a_permissive_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    county = tmp_path / "county"
    for args in (("keys", "init"), ("generate", "--out", str(county), "--persons", "150", "--seed", "3"),
                 *(("connector", "run", agency, "--source", str(county))
                   for agency in ("court", "police", "civil_affairs", "justice")),
                 ("process",), ("audit", "export-key", "--out", str(tmp_path / "audit.pub")),
                 ("users", "add", "dpo.x", "--role", "dpo", "--org", "justice:county")):
        run = _justlink(data, *args)
        assert run.returncode == 0, (args, run.stdout, run.stderr)
    assert (data / "log.db").exists() and (data / "keystore.db").exists() and (data / "state").is_dir()
    assert _loose(data) == [], "files or directories of the data directory are readable by others"


def test_library_users_create_private_files_too(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        data = tmp_path / "data"
        EmbeddedEventLog(data / "log.db").close()
        UserRegistry.open(data).close()
        ConnectorState(data / "connectors.db").close()
        init_keystore(data)
    finally:
        os.umask(previous)
    files = sorted(p.name for p in data.iterdir())
    assert {"log.db", "users.db", "connectors.db", "keystore.db", "master.key"} <= set(files)
    assert _loose(data) == [], files


@pytest.fixture()
def keystore_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    init_keystore(data)
    store = open_keystore(data)
    store.current_deks(["ab" * 16, "cd" * 16], "court")
    store.close()
    return data


def _flip_bit(data: Path, sql: str, params: tuple) -> None:
    db = sqlite3.connect(data / "keystore.db", isolation_level=None)
    wrapped = bytearray(db.execute(sql.replace("UPDATE", "SELECT wrapped FROM").split(" SET")[0]
                                   + " WHERE " + sql.split(" WHERE ")[1], params).fetchone()[0])
    wrapped[20] ^= 0x01
    db.execute(sql, (bytes(wrapped), *params))
    db.close()


def test_a_flipped_bit_in_a_wrapped_data_key_is_named(keystore_dir: Path) -> None:
    _flip_bit(keystore_dir, "UPDATE deks SET wrapped = ? WHERE subject_key = ? AND version = ?", ("cd" * 16, 1))
    store = open_keystore(keystore_dir)
    with pytest.raises(KeystoreDamaged, match=f"data key of subject {'cd' * 16} v1 .* restore keystore.db from backup"):
        store.dek("cd" * 16, 1)
    assert store.dek("ab" * 16, 1)  # the other subjects' keys are unharmed
    store.close()
    run = _justlink(keystore_dir, "keys", "rotate", "--agency", "court")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"data key of subject {'cd' * 16} v1" in run.stderr and "restore keystore.db from backup" in run.stderr


def test_a_flipped_bit_in_a_wrapped_agency_key_is_named(keystore_dir: Path) -> None:
    _flip_bit(keystore_dir, "UPDATE keks SET wrapped = ? WHERE agency = ? AND version = ?", ("court", 1))
    run = _justlink(keystore_dir, "keys", "rotate", "--agency", "court")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "key-encryption key of agency 'court' v1" in run.stderr and "restore keystore.db from backup" in run.stderr


def test_damaged_keystore_pages_are_named(keystore_dir: Path) -> None:
    path = keystore_dir / "keystore.db"
    raw = bytearray(path.read_bytes())
    page = 4096
    assert len(raw) >= 3 * page, "the keystore is smaller than expected"
    raw[page:2 * page] = b"\xff" * page  # the first b-tree page after the header page
    path.write_bytes(bytes(raw))
    for args in (("keys", "status"), ("keys", "rotate", "--agency", "court")):
        run = _justlink(keystore_dir, *args)
        assert run.returncode == 1 and "Traceback" not in run.stderr, (args, run.stderr)
        assert f"keystore {path} is damaged" in run.stderr and "restore keystore.db from backup" in run.stderr
