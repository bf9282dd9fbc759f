"""Crypto-shredding: after erasure none of the person's fields decrypt, everyone else's still do."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from consent.privacy.erasure import erase_subjects
from consent.privacy.keys import LocalKeystore
from consent.privacy.protect import ERASED, Protector
from tests.support.privacy import WANG, ZHANG, case_record, event_schema, new_keystore, plaintexts

ALL = {"identifier", "contact", "sensitive", "basic"}


def _subject_keys_of(person_id_number: str, protected_events: list[dict], protector: Protector) -> list[str]:
    """What the persons view does: every subject key whose party matched this person."""
    bi = protector.blind.id_number(person_id_number)[0]
    return sorted({p["protection"]["subject_key"] for e in protected_events for p in e["parties"]
                   if p["protection"]["id_number_bi"] == bi})


def test_erasure_shreds_one_person_across_agencies(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, master = new_keystore(tmp_path)
    protector = Protector(store, epoch_check_interval=0.0)
    schema = event_schema()
    events = {
        "c1": protector.protect(case_record("c1"), schema, "c1", "court"),
        "p1": protector.protect(case_record("p1", [WANG, ZHANG]), schema, "p1", "police"),
    }
    keys = _subject_keys_of(ZHANG["id_number"], list(events.values()), protector)
    assert len(keys) == 2  # one subject key per agency

    with caplog.at_level(logging.INFO, logger="justlink.audit"):
        receipt = erase_subjects(store, keys, requested_by="dpo-1")
    assert receipt.destroyed == keys and receipt.dek_versions_destroyed == 2
    line = json.loads(caplog.records[-1].getMessage())
    assert line["event"] == "subject_keys_erased" and line["subject_keys"] == keys
    for value in plaintexts(case_record()):
        assert value not in caplog.text

    # a second process (fresh protector on the same file) sees the erasure too
    other = Protector(LocalKeystore.open(tmp_path / "keystore.db", master))
    for reader in (protector, other):
        court = reader.reveal(events["c1"], schema, "c1", ALL)
        zhang, wang = court["parties"]
        assert all(zhang[f] == ERASED for f in ("name", "id_number", "date_of_birth", "phone", "address"))
        assert zhang["gender"] == "male"  # basic, never encrypted
        assert wang["name"] == "王芳" and wang["phone"] == WANG["phone"]  # everyone else still decrypts
        assert court["summary"] == ERASED  # event-level fields follow the first party (Zhang)
        assert court["detail"]["witness"]["name"] == "李娜"
        police = reader.reveal(events["p1"], schema, "p1", ALL)
        assert police["parties"][0]["name"] == "王芳" and police["summary"] != ERASED  # Wang is first there
        assert police["parties"][1]["name"] == ERASED


def test_cached_keys_are_dropped_when_another_process_erases(tmp_path: Path) -> None:
    store, master = new_keystore(tmp_path)
    reader = Protector(store, epoch_check_interval=0.0)
    schema = event_schema()
    protected = reader.protect(case_record(), schema, "e1", "court")
    assert reader.reveal(protected, schema, "e1", ALL)["parties"][0]["name"] == "张伟"  # DEK now cached
    eraser = LocalKeystore.open(tmp_path / "keystore.db", master)
    erase_subjects(eraser, [protected["parties"][0]["protection"]["subject_key"]], requested_by="dpo")
    assert reader.reveal(protected, schema, "e1", ALL)["parties"][0]["name"] == ERASED


def test_new_record_after_erasure_gets_a_new_key_version(tmp_path: Path) -> None:
    store, _ = new_keystore(tmp_path)
    protector = Protector(store, epoch_check_interval=0.0)
    schema = event_schema()
    old = protector.protect(case_record("e1"), schema, "e1", "court")
    erase_subjects(store, [old["parties"][0]["protection"]["subject_key"]], requested_by="dpo")
    new = protector.protect(case_record("e2"), schema, "e2", "court")
    assert new["parties"][0]["protection"]["subject_key"] == old["parties"][0]["protection"]["subject_key"]
    assert protector.reveal(new, schema, "e2", ALL)["parties"][0]["name"] == "张伟"
    assert protector.reveal(old, schema, "e1", ALL)["parties"][0]["name"] == ERASED


def test_erase_rejects_malformed_subject_keys(tmp_path: Path) -> None:
    store, _ = new_keystore(tmp_path)
    with pytest.raises(ValueError, match="32 hex"):
        erase_subjects(store, ["张伟"], requested_by="dpo")
    with pytest.raises(ValueError, match="no subject keys"):
        erase_subjects(store, [], requested_by="dpo")
