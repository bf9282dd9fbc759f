"""Protector: protection by schema tag, PartyProtection, reveal through field classes."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import fastavro
import pytest

from consent.privacy.fields import FieldDecryptionError, parse_header
from consent.privacy.grams import gram_dice
from consent.privacy.keys import LocalKeystore
from consent.privacy.pii_plan import SchemaError
from consent.privacy.protect import ProtectionError, Protector
from tests.support.privacy import (
    LI,
    LOCATION,
    NOTE,
    SUMMARY,
    WANG,
    ZHANG,
    case_record,
    event_schema,
    new_keystore,
    plaintexts,
)

ALL = {"identifier", "contact", "sensitive", "basic"}
PROTECTION_KEYS = {
    "subject_key", "id_number_bi", "id_number_valid", "phone_bi", "name_dob_bi", "dob_bi",
    "agency_person_bi", "name_key_bi", "name_grams", "name_pinyin_grams", "name_words", "address_grams",
    "address_words", "locality", "dob_transposed_bi", "dob_parts", "id_variants",
}


@pytest.fixture()
def store(tmp_path: Path):
    store, master = new_keystore(tmp_path)
    store.master = master  # type: ignore[attr-defined]
    yield store
    store.close()


@pytest.fixture()
def protector(store: LocalKeystore) -> Protector:
    return Protector(store)


def _avro_bytes(record: dict, schema: dict) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(copy.deepcopy(schema)), record)
    return buffer.getvalue()


def test_protected_record_holds_no_plaintext_and_is_valid_avro(protector: Protector) -> None:
    schema = event_schema()
    record = case_record()
    protected = protector.protect(record, schema, "evt-1", "court")
    assert record == case_record()  # input untouched
    raw = _avro_bytes(protected, schema)
    text = json.dumps(protected, ensure_ascii=False, default=lambda b: b.hex())
    for value in plaintexts(record):
        assert value.encode() not in raw, "plaintext in Avro bytes"
        assert value not in text, "plaintext in protected record"
    assert protected["case_number"] == record["case_number"]  # untagged: as is
    assert protected["parties"][0]["gender"] == "male" and protected["parties"][0]["is_minor"] is False  # basic
    assert protected["parties"][1]["role"] == "defendant"
    assert protected["detail"]["witness"]["id_number"] is None  # null stays null


def test_party_protection_is_filled_from_plaintext(protector: Protector) -> None:
    protected = protector.protect(case_record(), event_schema(), "evt-1", "court")
    zhang, wang = (p["protection"] for p in protected["parties"])
    li = protected["detail"]["witness"]["protection"]
    assert set(zhang) == PROTECTION_KEYS
    assert zhang["id_number_valid"] is True and zhang["agency_person_bi"] is None
    assert wang["agency_person_bi"] == protector.blind.agency_person("court", "JZ-0042")
    assert zhang["id_number_bi"] == protector.blind.id_number(ZHANG["id_number"])[0]
    assert zhang["phone_bi"] == protector.blind.phone("+8613812345678")
    assert zhang["name_dob_bi"] == protector.blind.name_dob("張偉", "1990/03/07")
    assert zhang["name_grams"] == protector.similarity.name("张伟")["name_grams"]
    assert gram_dice(zhang["name_pinyin_grams"], protector.similarity.name("章伟")["name_pinyin_grams"]) == 1.0
    assert zhang["dob_bi"] == protector.blind.dob("1990-03-07")
    assert zhang["dob_transposed_bi"] == protector.blind.dob("1990-07-03")  # day and month exchanged
    assert li["id_number_bi"] is None and li["id_number_valid"] is None and li["name_dob_bi"] is None
    assert li["phone_bi"] is not None and li["address_grams"] is None and li["locality"] is None
    assert len({zhang["subject_key"], wang["subject_key"], li["subject_key"]}) == 3


def test_subject_keys_follow_the_strongest_identifier(protector: Protector) -> None:
    schema = event_schema()
    one = protector.protect(case_record("evt-1"), schema, "evt-1", "court")
    two = protector.protect(case_record("evt-2"), schema, "evt-2", "court")
    other_agency = protector.protect(case_record("evt-3"), schema, "evt-3", "police")
    key = lambda rec, i: rec["parties"][i]["protection"]["subject_key"]  # noqa: E731
    assert key(one, 0) == key(two, 0)  # same ID number, same agency: same data subject key
    assert key(one, 0) != key(other_agency, 0)  # each agency keys its own subjects
    # no ID number, no agency id, no date of birth: a key of its own per record
    w1, w2 = one["detail"]["witness"]["protection"], two["detail"]["witness"]["protection"]
    assert w1["subject_key"] != w2["subject_key"]
    # name + date of birth when there is no ID number
    no_id = dict(ZHANG, id_number=None)
    a = protector.protect(case_record("evt-4", [no_id]), schema, "evt-4", "court")
    b = protector.protect(case_record("evt-5", [no_id]), schema, "evt-5", "court")
    assert key(a, 0) == key(b, 0) != key(one, 0)


def test_tokens_carry_the_party_key_and_event_fields_use_the_first_party(protector: Protector) -> None:
    protected = protector.protect(case_record(), event_schema(), "evt-1", "court")
    zhang_key = protected["parties"][0]["protection"]["subject_key"]
    wang_key = protected["parties"][1]["protection"]["subject_key"]
    li_key = protected["detail"]["witness"]["protection"]["subject_key"]
    assert parse_header(protected["parties"][0]["phone"]).subject_key == zhang_key
    assert parse_header(protected["parties"][1]["name"]).subject_key == wang_key
    assert parse_header(protected["detail"]["witness"]["phone"]).subject_key == li_key
    for event_level in (protected["summary"], protected["location"], protected["detail"]["note"]):
        assert parse_header(event_level).subject_key == zhang_key


def test_reveal_all_classes_round_trips(protector: Protector) -> None:
    schema = event_schema()
    record = case_record()
    protected = protector.protect(record, schema, "evt-1", "court")
    revealed = protector.reveal(protected, schema, "evt-1", ALL)
    expected = copy.deepcopy(record)
    assert revealed == expected  # protection dropped (None) by default
    kept = protector.reveal(protected, schema, "evt-1", ALL, keep_protection=True)
    assert kept["parties"][0]["protection"] == protected["parties"][0]["protection"]


def test_reveal_masks_classes_not_allowed(protector: Protector) -> None:
    schema = event_schema()
    protected = protector.protect(case_record(), schema, "evt-1", "court")
    seen = protector.reveal(protected, schema, "evt-1", {"identifier", "basic"})
    zhang = seen["parties"][0]
    assert zhang["name"] == "张伟" and zhang["id_number"] == ZHANG["id_number"] and zhang["gender"] == "male"
    assert zhang["phone"] == "***contact" and zhang["address"] == "***contact"
    assert seen["summary"] == "***sensitive" and seen["detail"]["note"] == "***sensitive"
    assert seen["location"] == "***contact"
    assert seen["detail"]["witness"]["date_of_birth"] is None  # null stays null
    minimal = protector.reveal(protected, schema, "evt-1", set())
    assert minimal["parties"][1]["gender"] == "***basic" and minimal["parties"][1]["name"] == "***identifier"
    assert minimal["case_number"] == protected["case_number"]
    sensitive = protector.reveal(protected, schema, "evt-1", {"sensitive", "contact"})
    assert (sensitive["summary"], sensitive["location"], sensitive["detail"]["note"]) == (SUMMARY, LOCATION, NOTE)
    with pytest.raises(ValueError, match="unknown field classes"):
        protector.reveal(protected, schema, "evt-1", {"everything"})


def test_moved_ciphertext_between_parties_or_events_fails(protector: Protector) -> None:
    schema = event_schema()
    protected = protector.protect(case_record(), schema, "evt-1", "court")
    swapped = copy.deepcopy(protected)
    swapped["parties"] = [swapped["parties"][1], swapped["parties"][0]]
    with pytest.raises(FieldDecryptionError, match=r"event evt-1 field parties\[0\]\.name"):
        protector.reveal(swapped, schema, "evt-1", ALL)
    with pytest.raises(FieldDecryptionError, match="event evt-2"):
        protector.reveal(protected, schema, "evt-2", ALL)
    planted = copy.deepcopy(protected)
    planted["summary"] = protected["parties"][0]["name"]  # same key, other field
    with pytest.raises(FieldDecryptionError, match="field summary"):
        protector.reveal(planted, schema, "evt-1", {"sensitive"})


def test_plaintext_where_a_token_belongs_is_an_error(protector: Protector) -> None:
    protected = protector.protect(case_record(), event_schema(), "evt-1", "court")
    protected["parties"][0]["phone"] = "13812345678"
    with pytest.raises(FieldDecryptionError, match="not a protected-field token") as info:
        protector.reveal(protected, event_schema(), "evt-1", ALL)
    assert "13812345678" not in str(info.value)


def test_readable_after_kek_rotation_by_a_fresh_protector(store: LocalKeystore, tmp_path: Path) -> None:
    schema = event_schema()
    protected = Protector(store).protect(case_record(), schema, "evt-1", "court")
    store.rotate_kek("court")
    store.rotate_kek("court")
    fresh = Protector(LocalKeystore.open(tmp_path / "keystore.db", store.master))  # type: ignore[attr-defined]
    assert fresh.reveal(protected, schema, "evt-1", ALL) == case_record()
    again = fresh.protect(case_record(), schema, "evt-1", "court")
    assert again["parties"][0]["protection"] == protected["parties"][0]["protection"]  # matching key unrotated


def test_wrong_keystore_cannot_read(tmp_path: Path, protector: Protector) -> None:
    schema = event_schema()
    protected = protector.protect(case_record(), schema, "evt-1", "court")
    other_store, _ = new_keystore(tmp_path / "other")
    with pytest.raises(FieldDecryptionError, match="not in the keystore"):
        Protector(other_store).reveal(protected, schema, "evt-1", ALL)


def test_event_without_parties_uses_a_per_record_key(protector: Protector) -> None:
    schema = event_schema()
    one = protector.protect(case_record("e1", parties=[], with_detail=False), schema, "e1", "police")
    two = protector.protect(case_record("e2", parties=[], with_detail=False), schema, "e2", "police")
    assert parse_header(one["summary"]).subject_key != parse_header(two["summary"]).subject_key
    assert protector.reveal(one, schema, "e1", ALL)["summary"] == SUMMARY


def test_protect_many_matches_protect(protector: Protector) -> None:
    schema = event_schema()
    batch = protector.protect_many([(case_record(f"e{i}"), f"e{i}") for i in range(5)], schema, "court")
    for i, protected in enumerate(batch):
        assert protector.reveal(protected, schema, f"e{i}", ALL) == case_record(f"e{i}")


def test_bad_input_names_event_and_field(protector: Protector) -> None:
    schema = event_schema()
    record = case_record()
    record["parties"][1]["phone"] = 13900001111
    with pytest.raises(ProtectionError, match=r"event evt-1 field parties\[1\]\.phone: expected a string") as info:
        protector.protect(record, schema, "evt-1", "court")
    assert "13900001111" not in str(info.value)
    record = case_record()
    record["summary"] = ["not", "a", "string"]
    with pytest.raises(ProtectionError, match="field summary"):
        protector.protect(record, schema, "evt-1", "court")
    already = protector.protect(case_record(), schema, "evt-1", "court")
    with pytest.raises(ProtectionError, match="already protected"):
        protector.protect(already, schema, "evt-1", "court")


def test_schema_errors_name_the_field(protector: Protector) -> None:
    bad = {"type": "record", "name": "Bad", "fields": [
        {"name": "sentence", "type": ["null", {"type": "record", "name": "S", "fields": [
            {"name": "months", "type": "int"}]}], "pii": "sensitive"}]}
    with pytest.raises(SchemaError, match="record Bad field sentence"):
        protector.protect({"sentence": None}, bad, "e", "court")
    unknown = {"type": "record", "name": "U", "fields": [{"name": "x", "type": "string", "pii": "secret"}]}
    with pytest.raises(SchemaError, match="pii class 'secret'"):
        protector.protect({"x": "a"}, unknown, "e", "court")
    dangling = {"type": "record", "name": "D", "fields": [{"name": "p", "type": {"type": "array", "items": "Nope"}}]}
    with pytest.raises(SchemaError, match="named type 'Nope'"):
        protector.protect({"p": []}, dangling, "e", "court")


def test_fastavro_named_schemas_are_accepted(store: LocalKeystore) -> None:
    named: dict = {}
    fastavro.parse_schema(copy.deepcopy(event_schema()["fields"][4]["type"]["items"]), named_schemas=named)
    by_reference = {"type": "record", "name": "Ref", "namespace": "test.privacy", "fields": [
        {"name": "summary", "type": ["null", "string"], "pii": "sensitive"},
        {"name": "parties", "type": {"type": "array", "items": "test.privacy.PartyRef"}}]}
    protector = Protector(store, named_types=named)
    record = {"summary": SUMMARY, "parties": [copy.deepcopy(WANG), copy.deepcopy(LI)]}
    protected = protector.protect(record, by_reference, "r1", "justice")
    assert protected["parties"][1]["protection"]["phone_bi"] is not None
    assert protector.reveal(protected, by_reference, "r1", ALL) == record
