"""The audit trail on the real embedded event log, attacked the way an outsider with write access to
the data directory would: tampering done directly in the log's SQLite file, forgeries built from the
documented canonical encoding, the audit key replaced — `justlink audit verify`, against the key the
DPO pinned, must catch each and name the first bad record exactly."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastavro
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.access.audit import (
    AUDIT_TOPIC,
    CHECKPOINT_TOPIC,
    SIGNING_KEY_FILE,
    AuditEntry,
    AuditError,
    AuditTrail,
    KeystoreReasonCipher,
    SignedHead,
    TrustAnchor,
    audit_codec,
    decode_record,
    fingerprint,
    key_id,
    load_or_create_signing_key,
    load_public_key,
    read_trail,
    sign_head,
    verify,
)
from consent.privacy.keys.base import KeyErased
from consent.privacy.keys.local import LocalKeystore
from hub.cli.main import cli
from runtime.eventlog.embedded import EmbeddedEventLog
from schemas.registry import default_registry

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
RECORDS = 25
EVERY = 10
HEAD_SIZES = [1, 11, 21, 25]  # after the first record, every EVERY records, and on close


def _entry(i: int, reason: str | None = None) -> AuditEntry:
    return AuditEntry(NOW + timedelta(seconds=i), f"user-{i % 3}", "mediator", "justice:城关司法所",
                      "dispute_mediation", 200 if i % 2 else 403, "allowed" if i % 2 else "denied",
                      "mediator.dispute_mediation", "allowed" if i % 2 else "not_party",
                      case_id=f"（2025）城关调字第{i}号", subject=f"P-{i:04d}",
                      field_classes=("basic", "contact") if i % 2 else (), break_glass_reason=reason)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """A data directory whose embedded log holds RECORDS audit records and the heads signed after the
    first, every EVERY records, and on close — and, outside it, the public key the DPO exported."""
    data = tmp_path / "data"
    with EmbeddedEventLog(data / "log.db") as log:
        trail = AuditTrail.open(log, data, checkpoint_every=EVERY, checkpoint_interval_s=0)
        for i in range(RECORDS):
            trail.append(_entry(i))
        trail.close()
    run = CliRunner().invoke(cli, ["--data-dir", str(data), "audit", "export-key", "--out",
                                   str(tmp_path / "audit.pub")])
    assert run.exit_code == 0, run.output
    return data


def _pinned(data_dir: Path) -> TrustAnchor:
    return TrustAnchor.of_key(load_public_key((data_dir.parent / "audit.pub").read_bytes()))


def _trail(data_dir: Path) -> tuple[list[bytes], list[bytes]]:
    with EmbeddedEventLog(data_dir / "log.db") as log:
        return read_trail(log)


def _sql(data_dir: Path, topic: str):
    db = sqlite3.connect(data_dir / "log.db", isolation_level=None)
    topic_id = db.execute("SELECT id FROM topics WHERE name = ?", (topic,)).fetchone()[0]
    return db, topic_id


def _value(db, topic_id: int, offset: int) -> bytes:
    return db.execute('SELECT value FROM records WHERE topic_id = ? AND "offset" = ?', (topic_id, offset)).fetchone()[0]


def _set_value(db, topic_id: int, offset: int, value: bytes) -> None:
    db.execute('UPDATE records SET value = ? WHERE topic_id = ? AND "offset" = ?', (value, topic_id, offset))


def _cli_verify(data_dir: Path, *extra: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), "audit", "verify", *extra],
                              env={"JUSTLINK_DATA_DIR": str(data_dir), **(env or {})})


def _pub(data_dir: Path) -> str:
    return str(data_dir.parent / "audit.pub")


# -- the attacker's tools: the documented encoding, and no key (or a key of their own) ----------------

def _decode(value: bytes) -> tuple[int, dict]:
    return audit_codec().decode(value, "AccessAudited")


def _rehash(schema_id: int, record: dict, key: Ed25519PrivateKey | None = None, claim: str | None = None) -> bytes:
    """Re-hash a record the way the docs say; sign it with `key` if the attacker has one (naming it,
    or claiming the key id `claim`)."""
    codec = audit_codec()
    if key is not None:
        record["key_id"] = claim or key_id(key.public_key())
    record["hash"] = codec.chain_hash(schema_id, record)
    if key is not None:
        record["signature"] = base64.b64encode(key.sign(b"justlink.audit/record\n" + record["hash"].encode())).decode()
    return codec.encode_as(schema_id, record)


def test_intact_trail_verifies_against_the_pinned_key_or_fingerprint(data_dir):
    records, heads = _trail(data_dir)
    assert len(records) == RECORDS and [SignedHead.from_value(h).size for h in heads] == HEAD_SIZES
    result = verify(records, heads, _pinned(data_dir))
    assert result.ok and result.records == RECORDS and result.first_bad_seq is None, result
    run = _cli_verify(data_dir, "--public-key", _pub(data_dir))
    assert run.exit_code == 0, run.output
    assert "25 records and 4 signed heads verified" in run.output
    pin = fingerprint(load_public_key((data_dir.parent / "audit.pub").read_bytes()))
    by_setting = _cli_verify(data_dir, env={"JUSTLINK_AUDIT_KEY_FINGERPRINT": pin})
    assert by_setting.exit_code == 0, by_setting.output
    assert _cli_verify(data_dir, "--fingerprint", pin).exit_code == 0


def test_the_chain_is_the_documented_canonical_encoding(data_dir):
    """A verifier with only fastavro and the registered schema recomputes every hash: the Confluent
    frame of the record with `hash` and `signature` blanked, SHA-256; each record names the one before."""
    records, _ = _trail(data_dir)
    prev = "0" * 64
    for seq, value in enumerate(records):
        assert value[0] == 0
        schema_id = int.from_bytes(value[1:5], "big")
        schema = fastavro.parse_schema(default_registry().by_id(schema_id).schema)
        record = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
        blank = io.BytesIO()
        blank.write(value[:5])
        fastavro.schemaless_writer(blank, schema, {**record, "hash": "", "signature": ""})
        assert record["seq"] == seq and record["prev_hash"] == prev
        assert record["hash"] == hashlib.sha256(blank.getvalue()).hexdigest()
        assert record["case_id"] == f"（2025）城关调字第{seq}号"  # Chinese case numbers exactly as sent
        prev = record["hash"]


# (tamper, seq the verifier must name, words of its reason)
def _change_one_field(db, topic_id):
    schema_id, record = _decode(_value(db, topic_id, 7))
    record["user_id"] = "user-9"  # the old hash and signature kept
    _set_value(db, topic_id, 7, audit_codec().encode_as(schema_id, record))


def _garbage(db, topic_id):
    _set_value(db, topic_id, 12, b"\x00\x00\x00\x00\x20" + os.urandom(40))


def _delete_one(db, topic_id):
    db.execute('DELETE FROM records WHERE topic_id = ? AND "offset" = 5', (topic_id,))


def _swap_two(db, topic_id):
    a, b = _value(db, topic_id, 15), _value(db, topic_id, 16)
    _set_value(db, topic_id, 15, b)
    _set_value(db, topic_id, 16, a)


def _rewrite_from(start: int):
    def rewrite(db, topic_id):
        """Alter record `start` and re-hash everything after it, without the key."""
        prev = _decode(_value(db, topic_id, start - 1))[1]["hash"]
        for offset in range(start, RECORDS):
            schema_id, record = _decode(_value(db, topic_id, offset))
            if offset == start:
                record["subject"] = "P-9999"
            record["prev_hash"] = prev
            _set_value(db, topic_id, offset, _rehash(schema_id, record))
            prev = record["hash"]
    rewrite.__name__ = f"rewrite_from_{start}"
    return rewrite


def _delete_last(db, topic_id):
    db.execute('DELETE FROM records WHERE topic_id = ? AND "offset" = ?', (topic_id, RECORDS - 1))


def _cut_last_ten(db, topic_id):
    db.execute('DELETE FROM records WHERE topic_id = ? AND "offset" >= ?', (topic_id, RECORDS - 10))


def _append_forged(key: Ed25519PrivateKey | None, claim_real_key: bool):
    def forge(db, topic_id):
        """A record appended after the last one, chained and hashed right, signed with the attacker's key."""
        schema_id, record = _decode(_value(db, topic_id, RECORDS - 1))
        real_key_id = record["key_id"]
        record.update(seq=RECORDS, prev_hash=record["hash"], user_id="dpo-1", subject="P-0001", signature="")
        value = _rehash(schema_id, record, key, real_key_id if claim_real_key else None)
        db.execute('INSERT INTO records (topic_id, partition, "offset", key, value, timestamp_ms) '
                   'SELECT topic_id, partition, "offset" + 1, key, ?, timestamp_ms FROM records '
                   'WHERE topic_id = ? AND "offset" = ?', (value, topic_id, RECORDS - 1))
    forge.__name__ = f"append_forged_{'claiming_real_key' if claim_real_key else 'own_key'}"
    return forge


TAMPERS = [
    (_change_one_field, 7, "content does not match its hash — altered"),
    (_garbage, 12, "unreadable"),
    (_delete_one, 5, "record 5 is missing"),
    (_swap_two, 15, "record 15 is out of order"),
    (_rewrite_from(13), 13, "signature does not verify under the pinned key"),
    (_rewrite_from(RECORDS - 1), RECORDS - 1, "signature does not verify under the pinned key"),
    (_delete_last, RECORDS - 1, "truncated"),
    (_cut_last_ten, RECORDS - 10, "truncated"),
    (_append_forged(Ed25519PrivateKey.generate(), True), RECORDS, "signature does not verify"),
    (_append_forged(Ed25519PrivateKey.generate(), False), RECORDS, "not the pinned key"),
]


@pytest.mark.parametrize("tamper,bad_seq,words", TAMPERS, ids=[t[0].__name__.strip("_") for t in TAMPERS])
def test_tampering_is_found_and_the_first_bad_record_named(data_dir, tamper, bad_seq, words):
    db, topic_id = _sql(data_dir, AUDIT_TOPIC)
    tamper(db, topic_id)
    db.close()
    result = verify(*_trail(data_dir), _pinned(data_dir))
    assert not result.ok and result.first_bad_seq == bad_seq and words in result.reason, result
    run = _cli_verify(data_dir, "--public-key", _pub(data_dir))
    assert run.exit_code == 1
    assert f"first bad record is seq {bad_seq}" in run.output and words in run.output


def test_a_writer_never_signs_over_a_forgery(data_dir):
    db, topic_id = _sql(data_dir, AUDIT_TOPIC)
    _append_forged(Ed25519PrivateKey.generate(), True)(db, topic_id)
    db.close()
    with EmbeddedEventLog(data_dir / "log.db") as log, pytest.raises(AuditError, match="record 25"):
        AuditTrail.open(log, data_dir, checkpoint_interval_s=0)
    assert not verify(*_trail(data_dir), _pinned(data_dir)).ok


def test_deleting_every_head_fails(data_dir):
    db, topic_id = _sql(data_dir, CHECKPOINT_TOPIC)
    db.execute("DELETE FROM records WHERE topic_id = ?", (topic_id,))
    db.close()
    result = verify(*_trail(data_dir), _pinned(data_dir))
    assert not result.ok and "no signed head — the heads were deleted" in result.reason
    assert _cli_verify(data_dir, "--public-key", _pub(data_dir)).exit_code == 1


def test_a_forged_head_fails(data_dir):
    db, topic_id = _sql(data_dir, CHECKPOINT_TOPIC)
    head = SignedHead.from_value(_value(db, topic_id, 2))
    forged = SignedHead(head.origin, head.size, "f" * 64, head.signed_at_ms, head.trigger, head.key_id,
                        head.public_key, head.signature)
    _set_value(db, topic_id, 2, forged.to_value())
    db.close()
    result = verify(*_trail(data_dir), _pinned(data_dir))
    assert not result.ok and "is not signed by the pinned key" in result.reason, result


def test_truncation_with_its_heads_is_caught_by_the_kept_head(data_dir, tmp_path):
    """The attacker cuts the last 10 records and the heads that covered them: the rest verifies on its
    own, but not against the head the DPO exported before."""
    kept = tmp_path / "head.json"
    run = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "audit", "export-head", "--out", str(kept)])
    assert run.exit_code == 0, run.output
    assert json.loads(kept.read_text())["size"] == RECORDS
    assert _cli_verify(data_dir, "--public-key", _pub(data_dir), "--against", str(kept)).exit_code == 0

    db, topic_id = _sql(data_dir, AUDIT_TOPIC)
    _cut_last_ten(db, topic_id)
    heads_topic = db.execute("SELECT id FROM topics WHERE name = ?", (CHECKPOINT_TOPIC,)).fetchone()[0]
    db.execute('DELETE FROM records WHERE topic_id = ? AND "offset" >= 2', (heads_topic,))  # heads 21 and 25
    db.close()
    assert verify(*_trail(data_dir), _pinned(data_dir)).ok  # undetectable without a kept head
    run = _cli_verify(data_dir, "--public-key", _pub(data_dir), "--against", str(kept))
    assert run.exit_code == 1
    assert "first bad record is seq 15" in run.output and "the kept head covers 25 records" in run.output


def _replace_key_and_resign(data_dir: Path) -> None:
    """Replace the audit key in the data directory and re-sign every record and head with it."""
    key = Ed25519PrivateKey.generate()
    (data_dir / SIGNING_KEY_FILE).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    db, topic_id = _sql(data_dir, AUDIT_TOPIC)
    prev = "0" * 64
    for offset in range(RECORDS):
        schema_id, record = _decode(_value(db, topic_id, offset))
        record["prev_hash"] = prev
        _set_value(db, topic_id, offset, _rehash(schema_id, record, key))
        prev = record["hash"]
    heads_topic = db.execute("SELECT id FROM topics WHERE name = ?", (CHECKPOINT_TOPIC,)).fetchone()[0]
    db.execute("DELETE FROM records WHERE topic_id = ?", (heads_topic,))
    db.execute('INSERT INTO records (topic_id, partition, "offset", key, value, timestamp_ms) VALUES (?, 0, 0, ?, ?, 0)',
               (heads_topic, b"25", sign_head(key, RECORDS, prev, NOW, "stop").to_value()))
    db.close()


def test_a_replaced_and_resigned_key_fails_against_the_pinned_one(data_dir):
    pin = fingerprint(load_public_key((data_dir.parent / "audit.pub").read_bytes()))
    _replace_key_and_resign(data_dir)
    result = verify(*_trail(data_dir), _pinned(data_dir))
    assert not result.ok and result.first_bad_seq == 0 and "not the pinned key" in result.reason, result
    for extra, env in ((("--public-key", _pub(data_dir)), None), ((), {"JUSTLINK_AUDIT_KEY_FINGERPRINT": pin})):
        run = _cli_verify(data_dir, *extra, env=env)
        assert run.exit_code == 1 and "replaced" in run.output, run.output


def test_a_writer_refuses_a_trail_another_key_signed(data_dir):
    (data_dir / SIGNING_KEY_FILE).unlink()  # regenerated on the next open
    with EmbeddedEventLog(data_dir / "log.db") as log, pytest.raises(AuditError, match="replaced or regenerated"):
        AuditTrail.open(log, data_dir, checkpoint_interval_s=0)


def test_without_a_trust_anchor_verify_refuses_to_vouch(data_dir):
    run = _cli_verify(data_dir)
    assert run.exit_code != 0 and "no trust anchor" in run.output and "--public-key" in run.output


def test_a_hub_with_no_access_yet_says_so(tmp_path):
    run = _cli_verify(tmp_path)
    assert run.exit_code == 0 and "no accesses recorded yet" in run.output, run.output
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        AuditTrail.open(log, tmp_path, checkpoint_interval_s=0).close()
    run = _cli_verify(tmp_path)
    assert run.exit_code == 0 and "no accesses recorded yet" in run.output, run.output


def test_heads_are_signed_every_interval_while_records_are_unsigned(tmp_path):
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        trail = AuditTrail.open(log, tmp_path, checkpoint_every=1000, checkpoint_interval_s=0.05)
        trail.append(_entry(0))
        trail.append(_entry(1))
        assert trail.signed_size == 1  # the head after the first record; the second is unsigned yet
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while trail.signed_size < 2:  # wait on progress: the timer's head
            assert datetime.now(UTC) < deadline, "no head signed by the interval timer within 30 s"
            trail._closed.wait(0.01)
        trail.close()
        heads = [SignedHead.from_value(h) for h in read_trail(log)[1]]
    assert [h.trigger for h in heads][:2] == ["records", "interval"]


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
        trail = AuditTrail.open(log, data_dir, checkpoint_every=EVERY, checkpoint_interval_s=0)
        assert trail.next_seq == RECORDS
        sealed = trail.append(_entry(RECORDS))
        assert sealed.seq == RECORDS
        assert trail.checkpoint() is not None and trail.checkpoint() is None  # nothing new to sign
    result = verify(*_trail(data_dir), _pinned(data_dir))
    assert result.ok and result.records == RECORDS + 1


def test_crypto_shredding_keeps_the_chain_valid(tmp_path):
    keystore = LocalKeystore.create(tmp_path / "keystore.db", os.urandom(32))
    cipher = KeystoreReasonCipher(keystore, lambda person: "ab" * 16 if person == "P-0001" else None)
    reason = "受害人报称晚上十点遭持刀威胁，需立即查看"
    with EmbeddedEventLog(tmp_path / "log.db") as log:
        trail = AuditTrail.open(log, tmp_path, cipher=cipher, checkpoint_interval_s=0)
        trail.append(_entry(1, reason=reason))
        trail.append(_entry(2, reason=reason))  # subject P-0002 has no key: digest only
        trail.close()
        records, heads = read_trail(log)
    raw = b"".join(records + heads)
    assert reason.encode() not in raw  # never plaintext on the log
    first, second = decode_record(records[0]), decode_record(records[1])
    assert first["break_glass_reason"].startswith("jle1.")
    assert cipher.reveal(first["break_glass_reason"], first["event_id"]) == reason
    assert second["break_glass_reason"].startswith("sha256:")
    keystore.destroy_subjects(["ab" * 16])
    with pytest.raises(KeyErased):
        cipher.reveal(first["break_glass_reason"], first["event_id"])
    assert verify(records, heads, load_or_create_signing_key(tmp_path).public_key()).ok
