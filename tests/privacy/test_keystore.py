"""The local SQLite keystore: wrapping, master key, rotation, destruction, concurrency."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from consent.privacy.keys import (
    KeyErased,
    KeyNotFound,
    KeystoreError,
    LocalKeystore,
    init_keystore,
    load_master_key,
    open_keystore,
)
from tests.support.privacy import new_keystore

SK1 = "11" * 16
SK2 = "22" * 16


def test_create_open_and_wrong_master_key(tmp_path: Path) -> None:
    store, master = new_keystore(tmp_path)
    key = store.current_deks([SK1], "court")[SK1]
    store.close()
    reopened = LocalKeystore.open(tmp_path / "keystore.db", master)
    assert reopened.dek(SK1, key.version) == key.key
    with pytest.raises(KeystoreError, match="master key does not open"):
        LocalKeystore.open(tmp_path / "keystore.db", os.urandom(32))
    with pytest.raises(KeystoreError, match="already exists"):
        LocalKeystore.create(tmp_path / "keystore.db", master)


def test_no_key_material_in_plaintext_in_the_file(tmp_path: Path) -> None:
    store, master = new_keystore(tmp_path)
    dek = store.current_deks([SK1], "court")[SK1].key
    matching = store.matching_key()
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert dek not in raw and matching not in raw and master not in raw


def test_dek_is_reused_and_unknown_versions_fail(tmp_path: Path) -> None:
    store, _ = new_keystore(tmp_path)
    first = store.current_deks([SK1, SK1, SK2], "police")
    again = store.current_deks([SK1], "police")
    assert again[SK1] == first[SK1] and first[SK1].version == 1 and first[SK1].key != first[SK2].key
    with pytest.raises(KeyNotFound):
        store.dek(SK1, 2)
    with pytest.raises(KeyNotFound):
        store.dek("33" * 16, 1)


def test_two_processes_creating_the_same_dek_agree(tmp_path: Path) -> None:
    store_a, master = new_keystore(tmp_path)
    store_b = LocalKeystore.open(tmp_path / "keystore.db", master)
    key_a = store_a.current_deks([SK1], "court")[SK1]
    key_b = store_b.current_deks([SK1], "court")[SK1]
    assert key_a == key_b


def test_rotation_rewraps_and_keeps_deks_readable(tmp_path: Path) -> None:
    store, master = new_keystore(tmp_path)
    court = store.current_deks([SK1], "court")[SK1]
    police = store.current_deks([SK2], "police")[SK2]
    before = (tmp_path / "keystore.db").read_bytes()
    result = store.rotate_kek("court")
    assert (result.old_version, result.new_version, result.deks_rewrapped) == (1, 2, 1)
    store.close()
    store = LocalKeystore.open(tmp_path / "keystore.db", master)
    assert store.dek(SK1, court.version) == court.key
    assert store.dek(SK2, police.version) == police.key
    status = {a.agency: a for a in store.status().agencies}
    assert status["court"].kek_version == 2 and status["police"].kek_version == 1
    # new DEKs of the agency are wrapped under the new version
    row = store._db.execute("SELECT kek_version FROM deks WHERE subject_key = ?", (SK1,)).fetchone()
    assert row[0] == 2
    assert before != (tmp_path / "keystore.db").read_bytes()
    assert store.rotate_kek("court").new_version == 3


def test_destroy_removes_the_wrapped_key_from_the_file(tmp_path: Path) -> None:
    store, _ = new_keystore(tmp_path)
    store.current_deks([SK1, SK2], "court")
    wrapped = store._db.execute("SELECT wrapped FROM deks WHERE subject_key = ?", (SK1,)).fetchone()[0]
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert wrapped in (tmp_path / "keystore.db").read_bytes()
    epoch = store.erasure_epoch()
    result = store.destroy_subjects([SK1, "44" * 16])
    assert result.destroyed == [SK1] and result.not_found == ["44" * 16] and result.dek_versions_destroyed == 1
    assert store.erasure_epoch() == epoch + 1
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert wrapped not in raw
    with pytest.raises(KeyErased):
        store.dek(SK1, 1)
    assert store.dek(SK2, 1)
    assert store.destroy_subjects([SK1]).already_erased == [SK1]
    # a subject seen again after erasure gets a new DEK version; the old one stays destroyed
    renewed = store.current_deks([SK1], "court")[SK1]
    assert renewed.version == 2
    with pytest.raises(KeyErased):
        store.dek(SK1, 1)


def test_master_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUSTLINK_MASTER_KEY", raising=False)
    with pytest.raises(KeystoreError, match="no master key"):
        load_master_key(tmp_path, environ={})
    report = init_keystore(tmp_path / "data")
    key_file = tmp_path / "data" / "master.key"
    assert report.created_master_key and report.created_keystore
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_master_key(tmp_path / "data", environ={}).source == f"file {key_file}"
    env_key = base64.b64encode(os.urandom(32)).decode()
    assert load_master_key(tmp_path, environ={"JUSTLINK_MASTER_KEY": env_key}).source == "env JUSTLINK_MASTER_KEY"
    with pytest.raises(KeystoreError, match="32 bytes"):
        load_master_key(tmp_path, environ={"JUSTLINK_MASTER_KEY": base64.b64encode(b"short").decode()})
    with pytest.raises(KeystoreError, match="base64"):
        load_master_key(tmp_path, environ={"JUSTLINK_MASTER_KEY": "not base64!"})
    # idempotent, and an explicit key file elsewhere works too
    again = init_keystore(tmp_path / "data")
    assert not again.created_master_key and not again.created_keystore
    other = init_keystore(tmp_path / "d2", master_key_file=tmp_path / "secrets" / "jl.key")
    assert other.master_key_source == f"file {tmp_path / 'secrets' / 'jl.key'}"
    open_keystore(tmp_path / "d2", tmp_path / "secrets" / "jl.key").close()


def test_init_refuses_to_replace_a_missing_key_of_an_existing_keystore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUSTLINK_MASTER_KEY", raising=False)
    init_keystore(tmp_path)
    (tmp_path / "master.key").unlink()
    with pytest.raises(KeystoreError, match="no master key"):
        init_keystore(tmp_path)
    assert not (tmp_path / "master.key").exists()
