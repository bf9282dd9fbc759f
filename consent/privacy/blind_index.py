"""Keyed blind indexes for exact matching without plaintext.

A blind index is the first 16 bytes (hex) of HMAC-SHA256 over a normalised value. Each kind of value
has its own sub-key, derived from the matching key with HKDF-SHA256 (``info = b"justlink bi <kind>"``),
so an ID number and a phone that happen to share digits never collide, and the kinds cannot be
correlated with each other. The matching key is held by the keystore apart from the KEKs and is not
rotated with them: blind indexes stay stable across processes and KEK rotations.

Speed: one ``cryptography`` HMAC template per kind, ``.copy()``-ed per value (about 2.4x faster than
``hmac.digest`` of the standard library, and no key schedule per value).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consent.privacy import normalize

BLIND_INDEX_BYTES = 16
INDEX_KINDS = ("id_number", "phone", "name_dob", "dob", "agency_person", "subject", "name_key")


def derive_subkey(matching_key: bytes, label: str) -> bytes:
    """A 32-byte sub-key of the matching key for one purpose (domain separation)."""
    if len(matching_key) < 32:
        raise ValueError("matching key must be at least 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"justlink " + label.encode()).derive(
        matching_key
    )


class _KeyedHash:
    """HMAC-SHA256 under one sub-key, truncated to 16 bytes, hex. Results are memoised (bounded):
    the same people recur across events."""

    __slots__ = ("_template", "hex16")

    def __init__(self, key: bytes, cache_size: int) -> None:
        self._template = hmac.HMAC(key, hashes.SHA256())
        self.hex16 = lru_cache(maxsize=cache_size)(self._hex16)

    def _hex16(self, value: str) -> str:
        mac = self._template.copy()
        mac.update(value.encode())
        return mac.finalize()[:BLIND_INDEX_BYTES].hex()


class BlindIndexer:
    """Computes blind indexes of raw values (normalising them first). Safe to share across threads."""

    def __init__(self, matching_key: bytes, cache_size: int = 65536) -> None:
        self._hashes = {
            kind: _KeyedHash(derive_subkey(matching_key, f"bi {kind}"), cache_size) for kind in INDEX_KINDS
        }
        self._id = self._hashes["id_number"]
        self._phone = self._hashes["phone"]
        self._name_dob = self._hashes["name_dob"]
        self._dob = self._hashes["dob"]
        self._agency_person = self._hashes["agency_person"]
        self._subject = self._hashes["subject"]

    def id_number(self, raw: str) -> tuple[str, bool]:
        """Blind index of a resident ID number and whether the number is valid."""
        norm = normalize.normalize_id_number(raw)
        return self._id.hex16(norm.value), norm.valid

    def phone(self, raw: str) -> str | None:
        value = normalize.normalize_phone(raw)
        return self._phone.hex16(value) if value else None

    def name_dob(self, name: str, date_of_birth: str) -> str:
        return self._name_dob.hex16(normalize.normalize_name(name) + "|" + normalize.normalize_date(date_of_birth))

    def dob(self, date_of_birth: str) -> str:
        return self._dob.hex16(normalize.normalize_date(date_of_birth))

    def agency_person(self, agency: str, raw: str) -> str:
        return self._agency_person.hex16(normalize.normalize_agency_person_id(agency, raw))

    def name_key(self, key: str) -> str:
        """Blind index of a name's sound key (consent.privacy.linkage.name_key): the group of names
        that may be the same person's, without the name."""
        return self._hashes["name_key"].hex16(key)

    def subject_key(self, material: str) -> str:
        """A data-subject key id (32 hex) derived from already-keyed material (see consent/privacy/protect.py)."""
        return self._subject.hex16(material)
