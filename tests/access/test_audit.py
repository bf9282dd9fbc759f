"""The audit trail on the real embedded event log: chain, checkpoints, recovery, and tampering
done directly in the log's SQLite file — `justlink audit verify` must find each and name where."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.access.audit import (
    AUDIT_TOPIC,
    CHECKPOINT_TOPIC,
    SIGNING_KEY_FILE,
    AuditEntry,
    AuditError,
    AuditTrail,
    KeystoreReasonCipher,
    canonical,
    load_or_create_signing_key,
    load_public_key,
    read_trail,
    record_hash,
    verify,
)
from consent.privacy.keys.base import KeyErased
from consent.privacy.keys.local import LocalKeystore
from hub.cli.main import cli
from runtime.eventlog.embedded import EmbeddedEventLog

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
RECORDS = 25
EVERY = 10


def _entry(i: int, reason: str | None = None) -> AuditEntry:
    return AuditEntry(NOW + timedelta(seconds=i), f"user-{i % 3}", "mediator", "justice:t", "dispute_mediation",
                      200 if i % 2 else 403, "allowed" if i % 2 else "denied", "mediator.dispute_mediation",
                      "allowed" if i % 2 else "not_party", case_id=f"M-{i}", subject=f"P-{i}",
                      field_classes=("basic", "contact") if i % 2 else (), break_glass_reason=reason)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """A data directory whose embedded log holds RECORDS audit records, checkpointed every EVERY
    records and once more on close (so the whole trail is covered by a signature)."""
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        trail = AuditTrail.open(log, tmp_path, checkpoint_every=EVERY)
        for i in range(RECORDS):
            trail.append(_entry(i))
        trail.close()
    return tmp_path


def _trail(data_dir: Path) -> tuple[list[bytes], list[bytes]]:
    with EmbeddedEventLog(data_dir / "log.db") as log:
        return read_trail(log)


def _public(data_dir: Path):
    return load_or_create_signing_key(data_dir).public_key()


def _sql(data_dir: Path, topic: str):
    db = sqlite3.connect(data_dir / "log.db", isolation_level=None)
    topic_id = db.execute("SELECT id FROM topics WHERE name = ?", (topic,)).fetchone()[0]
    return db, topic_id


def _value(db, topic_id: int, offset: int) -> bytes:
    return db.execute('SELECT value FROM records WHERE topic_id = ? AND "offset" = ?', (topic_id, offset)).fetchone()[0]


def _set_value(db, topic_id: int, offset: int, value: bytes) -> None:
    db.execute('UPDATE records SET value = ? WHERE topic_id = ? AND "offset" = ?', (value, topic_id, offset))


def _cli_verify(data_dir: Path, *extra: str):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), "audit", "verify", *extra],
                              env={"JUSTLINK_DATA_DIR": str(data_dir)})


def test_intact_trail_verifies_through_the_cli(data_dir):
    records, checkpoints = _trail(data_dir)
    assert len(records) == RECORDS and len(checkpoints) == 3  # after records 9 and 19, and on close (24)
    result = verify(records, checkpoints, _public(data_dir))
    assert result.ok and result.records == RECORDS and result.first_bad_seq is None
    run = _cli_verify(data_dir)
    assert run.exit_code == 0, run.output
    assert "25 records and 3 checkpoints verified" in run.output


def test_each_record_commits_to_the_previous_hash(data_dir):
    records, _ = _trail(data_dir)
    bodies = [json.loads(r) for r in records]
    assert bodies[0]["prev_hash"] == "0" * 64
    for before, after in zip(bodies, bodies[1:], strict=False):
        assert after["prev_hash"] == before["hash"] and after["seq"] == before["seq"] + 1
    assert all(record_hash(b) == b["hash"] and canonical(b) == r for b, r in zip(bodies, records, strict=True))


# (tamper, seq the verifier must name, words of its reason)
def _change_one_byte(db, topic_id):
    value = bytearray(_value(db, topic_id, 7))
    at = value.index(b'"user":"user-1"') + len(b'"user":"user-')
    value[at] = ord("2")  # user-1 -> user-2: still valid JSON, different content
    _set_value(db, topic_id, 7, bytes(value))


def _break_json(db, topic_id):
    value = bytearray(_value(db, topic_id, 12))
    value[0] = ord("[")
    _set_value(db, topic_id, 12, bytes(value))


def _delete_one(db, topic_id):
    db.execute('DELETE FROM records WHERE topic_id = ? AND "offset" = 5', (topic_id,))


def _swap_two(db, topic_id):
    a, b = _value(db, topic_id, 15), _value(db, topic_id, 16)
    _set_value(db, topic_id, 15, b)
    _set_value(db, topic_id, 16, a)


def _truncate_tail(db, topic_id):
    db.execute('DELETE FROM records WHERE topic_id = ? AND "offset" >= 21', (topic_id,))


def _rewrite_chain(db, topic_id):
    """An attacker without the signing key alters record 13 and re-hashes everything after it."""
    prev = json.loads(_value(db, topic_id, 12))["hash"]
    for offset in range(13, RECORDS):
        body = json.loads(_value(db, topic_id, offset))
        if offset == 13:
            body["subject"] = "P-someone-else"
        body["prev_hash"] = prev
        body["hash"] = record_hash(body)
        prev = body["hash"]
        _set_value(db, topic_id, offset, canonical(body))


TAMPERS = [
    (_change_one_byte, 7, "content does not match its hash — altered"),
    (_break_json, 12, "unreadable"),
    (_delete_one, 5, "record 5 is missing"),
    (_swap_two, 15, "record 15 is out of order"),
    (_truncate_tail, 21, "truncated"),
    (_rewrite_chain, 10, "records 10..19 differ from the signed checkpoint"),
]


@pytest.mark.parametrize("tamper,bad_seq,words", TAMPERS, ids=[t[0].__name__.strip("_") for t in TAMPERS])
def test_tampering_is_found_and_named(data_dir, tamper, bad_seq, words):
    db, topic_id = _sql(data_dir, AUDIT_TOPIC)
    tamper(db, topic_id)
    db.close()
    records, checkpoints = _trail(data_dir)
    result = verify(records, checkpoints, _public(data_dir))
    assert not result.ok and result.first_bad_seq == bad_seq and words in result.reason, result
    run = _cli_verify(data_dir)
    assert run.exit_code == 1
    assert f"first bad record is seq {bad_seq}" in run.output and words in run.output


def test_forged_or_foreign_checkpoint_is_found(data_dir):
    db, topic_id = _sql(data_dir, CHECKPOINT_TOPIC)
    body = json.loads(_value(db, topic_id, 1))
    body["hash"] = "f" * 64
    _set_value(db, topic_id, 1, canonical(body))
    db.close()
    result = verify(*_trail(data_dir), _public(data_dir))
    assert not result.ok and "checkpoint for record 19 has an invalid signature" in result.reason

    other = Ed25519PrivateKey.generate().public_key()
    fresh_records, fresh_checkpoints = _trail(data_dir)
    assert "invalid signature" in verify(fresh_records, fresh_checkpoints, other).reason


def test_verify_with_an_exported_key(data_dir, tmp_path):
    out = tmp_path / "audit.pub"
    run = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "audit", "export-key", "--out", str(out)],
                             env={"JUSTLINK_DATA_DIR": str(data_dir)})
    assert run.exit_code == 0, run.output
    assert load_public_key(out.read_bytes()) == _public(data_dir)
    (data_dir / SIGNING_KEY_FILE).unlink()  # a third party has only the public key
    assert _cli_verify(data_dir, "--public-key", str(out)).exit_code == 0
    missing = _cli_verify(data_dir)
    assert missing.exit_code != 0 and "pass --public-key" in missing.output


def test_signing_key_is_private_and_refused_when_readable(tmp_path):
    key = load_or_create_signing_key(tmp_path)
    path = tmp_path / SIGNING_KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_signing_key(tmp_path).public_key() == key.public_key()
    os.chmod(path, 0o644)
    with pytest.raises(AuditError, match="must be 0600"):
        load_or_create_signing_key(tmp_path)


def test_reopened_trail_continues_the_chain(data_dir):
    with EmbeddedEventLog(data_dir / "log.db") as log:
        trail = AuditTrail.open(log, data_dir, checkpoint_every=EVERY)
        assert trail.next_seq == RECORDS
        sealed = trail.append(_entry(RECORDS))
        assert sealed.seq == RECORDS
        assert trail.checkpoint() is not None and trail.checkpoint() is None  # nothing new to sign
    result = verify(*_trail(data_dir), _public(data_dir))
    assert result.ok and result.records == RECORDS + 1


def test_crypto_shredding_keeps_the_chain_valid(tmp_path):
    keystore = LocalKeystore.create(tmp_path / "keystore.db", os.urandom(32))
    cipher = KeystoreReasonCipher(keystore, lambda person: "ab" * 16 if person == "P-1" else None)
    reason = "Victim reports threat with a knife at 22:00"
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        trail = AuditTrail.open(log, tmp_path, cipher=cipher)
        trail.append(_entry(1, reason=reason))
        trail.append(_entry(2, reason=reason))  # subject P-2 has no key: digest only
        trail.close()
        records, checkpoints = read_trail(log)
    raw = b"".join(records + checkpoints)
    assert reason.encode() not in raw  # never plaintext on the log
    sealed = json.loads(records[0])["break_glass_reason"]
    assert sealed["alg"] == "A256GCM" and cipher.decrypt(sealed) == reason
    assert json.loads(records[1])["break_glass_reason"]["alg"] == "sha256"
    keystore.destroy_subjects(["ab" * 16])
    with pytest.raises(KeyErased):
        cipher.decrypt(sealed)
    assert verify(records, checkpoints, load_or_create_signing_key(tmp_path).public_key()).ok


def test_empty_trail_verifies(tmp_path):
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        AuditTrail.open(log, tmp_path).close()
    assert _cli_verify(tmp_path).exit_code == 0
