"""A party occurrence's matching profile: only its protection material, gender and agency.

Blind indexes stay hex strings; keyed gram and word sets (consent/privacy/grams.py) stay bytes, 8 per
hash, as the protection carries them. Profiles are stored packed (`pack` / `unpack`) and named by a
12-byte digest: identical profiles are stored once.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

AGENCY_CODES = {"court": 1, "police": 2, "civil_affairs": 3, "justice": 4, "hub": 5}
GENDER_CODES = {"male": 1, "female": 2}
GRAM_BYTES = 8


class Profile(NamedTuple):
    id_number: str | None
    id_valid: bool
    phone: str | None
    name_dob: str | None
    dob: str | None
    agency_person_id: str | None
    agency: int  # AGENCY_CODES, 0 for any other source
    gender: int  # 0 unknown / missing, 1 male, 2 female
    name_key: str | None = None        # blind index of the name's sound
    dob_transposed: str | None = None  # blind index of the date with day and month exchanged
    name: bytes | None = None          # keyed gram sets (8 bytes per gram, sorted)
    name_pinyin: bytes | None = None
    address: bytes | None = None
    name_words: bytes | None = None    # keyed words of the name, in order
    address_words: bytes | None = None  # keyed words of the address, sorted
    locality: bytes | None = None      # keyed township / postcode
    dob_parts: bytes | None = None     # keyed year-month, year-day, month-day
    id_variants: bytes | None = None   # keyed ID number whole and with one character left out


INDEX_FIELDS = ("id_number", "phone", "name_dob", "dob", "agency_person_id", "name_key", "dob_transposed")
BYTES_FIELDS = ("name", "name_pinyin", "address", "name_words", "address_words", "locality", "dob_parts",
                "id_variants")
_PROTECTION_OF = {"id_number": "id_number_bi", "phone": "phone_bi", "name_dob": "name_dob_bi", "dob": "dob_bi",
                  "agency_person_id": "agency_person_bi", "name_key": "name_key_bi",
                  "dob_transposed": "dob_transposed_bi", "name": "name_grams", "name_pinyin": "name_pinyin_grams",
                  "address": "address_grams", "name_words": "name_words", "address_words": "address_words",
                  "locality": "locality", "dob_parts": "dob_parts", "id_variants": "id_variants"}
_HEADER = struct.Struct(">HBBB")  # present-fields bitmap (15 fields), id valid, agency, gender
_TEXT_FLAG = 0x80


def agency_code(agency: str | None) -> int:
    return AGENCY_CODES.get(agency or "", 0)


def from_protection(protection: Mapping[str, Any] | None, gender: str | None, agency: str | None) -> Profile:
    """The profile of one party from its PartyProtection (None when unprotected: nothing to match on)."""
    p = protection or {}
    values = {field: (p.get(source) or None) for field, source in _PROTECTION_OF.items()}
    return Profile(
        id_valid=bool(p.get("id_number_valid")) and bool(values["id_number"]),
        agency=agency_code(agency),
        gender=GENDER_CODES.get(gender or "", 0),
        **values,
    )


def hashes_of(blob: bytes | None) -> list[bytes]:
    """The 8-byte hashes of a gram / word encoding, in stored order."""
    if not blob:
        return []
    return [blob[i : i + GRAM_BYTES] for i in range(0, len(blob), GRAM_BYTES)]


def _pack_index(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
        flag = 0
    except ValueError:
        raw = value.encode()
        flag = _TEXT_FLAG
    if len(raw) >= _TEXT_FLAG:
        raise ValueError(f"blind index of {len(raw)} bytes is too long (at most 127)")
    return bytes((len(raw) | flag,)) + raw


def pack(profile: Profile) -> bytes:
    present = 0
    parts = []
    for bit, name in enumerate(INDEX_FIELDS):
        value = getattr(profile, name)
        if value is not None:
            present |= 1 << bit
            parts.append(_pack_index(value))
    for bit, name in enumerate(BYTES_FIELDS, start=len(INDEX_FIELDS)):
        value = getattr(profile, name)
        if value is not None:
            present |= 1 << bit
            parts.append(struct.pack(">H", len(value)) + value)
    header = _HEADER.pack(present, int(profile.id_valid), profile.agency, profile.gender)
    return header + b"".join(parts)


def unpack(blob: bytes) -> Profile:
    present, valid, agency, gender = _HEADER.unpack_from(blob)
    pos = _HEADER.size
    values: dict[str, Any] = {}
    for bit, name in enumerate(INDEX_FIELDS):
        if present >> bit & 1:
            size = blob[pos]
            raw = blob[pos + 1 : pos + 1 + (size & ~_TEXT_FLAG)]
            values[name] = raw.decode() if size & _TEXT_FLAG else raw.hex()
            pos += 1 + (size & ~_TEXT_FLAG)
    for bit, name in enumerate(BYTES_FIELDS, start=len(INDEX_FIELDS)):
        if present >> bit & 1:
            (size,) = struct.unpack_from(">H", blob, pos)
            values[name] = blob[pos + 2 : pos + 2 + size]
            pos += 2 + size
    return Profile(id_valid=bool(valid), agency=agency, gender=gender,
                   **{name: values.get(name) for name in (*INDEX_FIELDS, *BYTES_FIELDS)})


def profile_digest(profile: Profile) -> str:
    """The name of a profile (24 hex): identical protection material, gender and agency give the same."""
    return hashlib.blake2b(pack(profile), digest_size=12).hexdigest()
