"""A party occurrence's matching profile: only its protection material, gender and agency.

Blind indexes stay hex strings (they are also block keys); CLKs become Python ints so a Dice
similarity is two popcounts. Profiles are stored packed (`pack` / `unpack`, ~0.5 kB with three
CLKs) and named by a 12-byte digest: identical profiles are stored once.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

AGENCY_CODES = {"court": 1, "police": 2, "civil_affairs": 3, "justice": 4, "hub": 5}
GENDER_CODES = {"male": 1, "female": 2}
_BI_FIELDS = ("id_number_bi", "phone_bi", "name_dob_bi", "dob_bi", "agency_person_bi", "name_key_bi")
_CLK_FIELDS = ("name_clk", "name_pinyin_clk", "address_clk")
_HEADER = struct.Struct(">HBBB")  # present-fields bitmap (9 fields), id valid, agency, gender
_TEXT_FLAG = 0x80


class Profile(NamedTuple):
    id_number: str | None
    id_valid: bool
    phone: str | None
    name_dob: str | None
    dob: str | None
    agency_person_id: str | None
    agency: int  # AGENCY_CODES, 0 for any other source
    gender: int  # 0 unknown / missing, 1 male, 2 female
    name: int | None  # character-bigram CLK as an int
    name_pinyin: int | None
    address: int | None
    name_key: str | None = None  # blind index of the name's sound: the group of records it is compared with


def agency_code(agency: str | None) -> int:
    return AGENCY_CODES.get(agency or "", 0)


def _clk(value: Any) -> int | None:
    if not value:
        return None
    number = int.from_bytes(value, "big")
    return number or None


def from_protection(protection: Mapping[str, Any] | None, gender: str | None, agency: str | None) -> Profile:
    """The profile of one party from its PartyProtection (None when unprotected: nothing to match on)."""
    p = protection or {}
    return Profile(
        p.get("id_number_bi") or None,
        bool(p.get("id_number_valid")) and bool(p.get("id_number_bi")),
        p.get("phone_bi") or None,
        p.get("name_dob_bi") or None,
        p.get("dob_bi") or None,
        p.get("agency_person_bi") or None,
        agency_code(agency),
        GENDER_CODES.get(gender or "", 0),
        _clk(p.get("name_clk")),
        _clk(p.get("name_pinyin_clk")),
        _clk(p.get("address_clk")),
        p.get("name_key_bi") or None,
    )


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
    indexes = (profile.id_number, profile.phone, profile.name_dob, profile.dob, profile.agency_person_id,
               profile.name_key)
    clks = (profile.name, profile.name_pinyin, profile.address)
    present = 0
    parts = []
    for bit, value in enumerate(indexes):
        if value is not None:
            present |= 1 << bit
            parts.append(_pack_index(value))
    for bit, number in enumerate(clks, start=len(indexes)):
        if number is not None:
            present |= 1 << bit
            raw = number.to_bytes((number.bit_length() + 7) // 8 or 1, "big")
            parts.append(struct.pack(">H", len(raw)) + raw)
    header = _HEADER.pack(present, int(profile.id_valid), profile.agency, profile.gender)
    return header + b"".join(parts)


def unpack(blob: bytes) -> Profile:
    present, valid, agency, gender = _HEADER.unpack_from(blob)
    pos = _HEADER.size
    values: list[Any] = []
    for bit in range(len(_BI_FIELDS)):
        if present >> bit & 1:
            size = blob[pos]
            raw = blob[pos + 1 : pos + 1 + (size & ~_TEXT_FLAG)]
            values.append(raw.decode() if size & _TEXT_FLAG else raw.hex())
            pos += 1 + (size & ~_TEXT_FLAG)
        else:
            values.append(None)
    for bit in range(len(_BI_FIELDS), len(_BI_FIELDS) + len(_CLK_FIELDS)):
        if present >> bit & 1:
            (size,) = struct.unpack_from(">H", blob, pos)
            values.append(int.from_bytes(blob[pos + 2 : pos + 2 + size], "big"))
            pos += 2 + size
        else:
            values.append(None)
    id_number, phone, name_dob, dob, agency_person_id, name_key, name, pinyin, address = values
    return Profile(id_number, bool(valid), phone, name_dob, dob, agency_person_id, agency, gender,
                   name, pinyin, address, name_key)


def profile_digest(profile: Profile) -> str:
    """The name of a profile (24 hex): identical protection material, gender and agency give the same."""
    h = hashlib.blake2b(digest_size=12)
    h.update(("%s|%d|%s|%s|%s|%s|%d|%d|%s|" % (*profile[:8], profile.name_key)).encode())  # noqa: UP031
    for clk in profile[8:11]:
        h.update(b"|" if clk is None else clk.to_bytes((clk.bit_length() + 7) // 8, "big") + b"|")
    return h.hexdigest()
