"""Shared helpers of the privacy tests: a self-contained test schema (no dependency on
schemas/avro), people, and a keystore factory. Holds no tests itself."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from consent.privacy.keys import LocalKeystore
from consent.privacy.normalize import id_check_char

PROTECTION_SCHEMA = {
    "type": "record",
    "name": "PartyProtection",
    "namespace": "test.privacy",
    "fields": [
        {"name": "subject_key", "type": "string"},
        {"name": "id_number_bi", "type": ["null", "string"], "default": None},
        {"name": "id_number_valid", "type": ["null", "boolean"], "default": None},
        {"name": "phone_bi", "type": ["null", "string"], "default": None},
        {"name": "name_dob_bi", "type": ["null", "string"], "default": None},
        {"name": "dob_bi", "type": ["null", "string"], "default": None},
        {"name": "agency_person_bi", "type": ["null", "string"], "default": None},
        {"name": "name_clk", "type": ["null", "bytes"], "default": None},
        {"name": "name_pinyin_clk", "type": ["null", "bytes"], "default": None},
        {"name": "address_clk", "type": ["null", "bytes"], "default": None},
    ],
}

PARTY_SCHEMA = {
    "type": "record",
    "name": "PartyRef",
    "namespace": "test.privacy",
    "fields": [
        {"name": "role", "type": {"type": "enum", "name": "Role", "symbols": ["plaintiff", "defendant", "witness"]}},
        {"name": "name", "type": "string", "pii": "identifier"},
        {"name": "id_type", "type": ["null", {"type": "enum", "name": "IdType", "symbols": ["resident_id", "passport"]}],
         "default": None},
        {"name": "id_number", "type": ["null", "string"], "pii": "identifier", "default": None},
        {"name": "date_of_birth", "type": ["null", "string"], "pii": "identifier", "default": None},
        {"name": "gender", "type": ["null", {"type": "enum", "name": "Gender", "symbols": ["male", "female"]}],
         "pii": "basic", "default": None},
        {"name": "phone", "type": ["null", "string"], "pii": "contact", "default": None},
        {"name": "address", "type": ["null", "string"], "pii": "contact", "default": None},
        {"name": "agency_person_id", "type": ["null", "string"], "pii": "identifier", "default": None},
        {"name": "is_minor", "type": "boolean", "pii": "basic", "default": False},
        {"name": "protection", "type": ["null", PROTECTION_SCHEMA], "default": None},
    ],
}

EVENT_SCHEMA = {
    "type": "record",
    "name": "TestCaseFiled",
    "namespace": "test.privacy",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "case_number", "type": "string"},
        {"name": "summary", "type": ["null", "string"], "pii": "sensitive", "default": None},
        {"name": "location", "type": ["null", "string"], "pii": "contact", "default": None},
        {"name": "parties", "type": {"type": "array", "items": PARTY_SCHEMA}},
        {"name": "detail", "type": ["null", {
            "type": "record", "name": "Detail", "fields": [
                {"name": "note", "type": ["null", "string"], "pii": "sensitive", "default": None},
                {"name": "witness", "type": ["null", "test.privacy.PartyRef"], "default": None},
            ]}], "default": None},
    ],
}


def event_schema() -> dict:
    return copy.deepcopy(EVENT_SCHEMA)


def resident_id(prefix17: str) -> str:
    return prefix17 + id_check_char(prefix17)


ZHANG = {
    "role": "plaintiff", "name": "张伟", "id_type": "resident_id", "id_number": resident_id("11010519900307123"),
    "date_of_birth": "1990-03-07", "gender": "male", "phone": "138 1234 5678",
    "address": "北京市朝阳区建国路88号", "agency_person_id": None, "is_minor": False, "protection": None,
}
WANG = {
    "role": "defendant", "name": "王芳", "id_type": "resident_id", "id_number": resident_id("32010219851111002"),
    "date_of_birth": "1985-11-11", "gender": "female", "phone": "+86 139-0000-1111",
    "address": "南京市玄武区中山路1号", "agency_person_id": "JZ-0042", "is_minor": False, "protection": None,
}
LI = {
    "role": "witness", "name": "李娜", "id_type": None, "id_number": None, "date_of_birth": None,
    "gender": None, "phone": "010-6512 3456", "address": None, "agency_person_id": None,
    "is_minor": True, "protection": None,
}

SUMMARY = "原告诉称被告长期拖欠借款五万元"
NOTE = "被告曾有家庭暴力告诫记录"
LOCATION = "朝阳区人民法庭"


def case_record(event_id: str = "evt-1", parties: list[dict] | None = None, with_detail: bool = True) -> dict:
    return {
        "event_id": event_id,
        "case_number": "（2025）京0105民初1234号",
        "summary": SUMMARY,
        "location": LOCATION,
        "parties": copy.deepcopy(parties if parties is not None else [ZHANG, WANG]),
        "detail": {"note": NOTE, "witness": copy.deepcopy(LI)} if with_detail else None,
    }


def plaintexts(record: dict) -> list[str]:
    """Every protected plaintext value in a test record (for leak scans)."""
    values = [record.get("summary"), record.get("location")]
    people = list(record["parties"])
    if record.get("detail"):
        values.append(record["detail"]["note"])
        if record["detail"]["witness"]:
            people.append(record["detail"]["witness"])
    for person in people:
        values += [person[k] for k in ("name", "id_number", "date_of_birth", "phone", "address", "agency_person_id")]
    return [v for v in values if v]


def new_keystore(directory: Path, master_key: bytes | None = None) -> tuple[LocalKeystore, bytes]:
    master = master_key or os.urandom(32)
    return LocalKeystore.create(Path(directory) / "keystore.db", master), master
