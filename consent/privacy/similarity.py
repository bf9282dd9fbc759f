"""The similarity material of a party (PartyProtection's gram sets, words, locality, date parts), from
plaintext: names, addresses and dates are normalised (consent/privacy/normalize.py), cut into grams and
words, and each gram keyed (consent/privacy/grams.py). Memoised per value: names and addresses repeat."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from consent.privacy import normalize
from consent.privacy.blind_index import BlindIndexer
from consent.privacy.grams import GramEncoder
from consent.privacy.linkage import bigrams, pinyin_grams

NAME_FIELDS = ("name_grams", "name_pinyin_grams", "name_words")
ADDRESS_FIELDS = ("address_grams", "address_words", "locality")
DATE_FIELDS = ("dob_transposed_bi", "dob_parts")
ID_FIELDS = ("id_variants",)


class SimilarityEncoder:
    def __init__(self, matching_key: bytes, cache_size: int = 131072) -> None:
        self.grams = GramEncoder(matching_key)
        self._name = lru_cache(maxsize=cache_size)(self._name_material)
        self._address = lru_cache(maxsize=cache_size)(self._address_material)

    def name(self, raw: str | None) -> dict[str, Any]:
        """name_grams (character bigrams), name_pinyin_grams (sound; none for a Latin name, whose sound is
        its letters), name_words (parts, in order)."""
        return self._name(raw) if raw else {f: None for f in NAME_FIELDS}

    def address(self, raw: str | None) -> dict[str, Any]:
        """address_grams (character bigrams), address_words (words, as a set), locality."""
        return self._address(raw) if raw else {f: None for f in ADDRESS_FIELDS}

    def id_number(self, raw: str | None) -> dict[str, Any]:
        """id_variants: the normalised ID number with each one character left out (and whole), keyed:
        two numbers one typo apart share one of them."""
        if not raw:
            return {"id_variants": None}
        value = normalize.normalize_id_number(raw).value
        variants = {value[:i] + value[i + 1:] for i in range(len(value))} | {value}
        return {"id_variants": self.grams.set_of("id variant", variants) if value else None}

    def date_of_birth(self, raw: str | None, blind: BlindIndexer) -> dict[str, Any]:
        """dob_transposed_bi (blind index of the date with day and month exchanged, when that is a
        date too) and dob_parts (year-month, year-day, month-day: two records whose dates differ in
        one part share one of them)."""
        if not raw:
            return {f: None for f in DATE_FIELDS}
        norm = normalize.normalize_date(raw)
        transposed = normalize.transposed_date(norm)
        parts = normalize.date_parts(norm)
        return {
            "dob_transposed_bi": blind.dob(transposed) if transposed else None,
            "dob_parts": None if parts is None else self.grams.sequence_of(
                "date part", (f"ym|{parts[0]}-{parts[1]}", f"yd|{parts[0]}-{parts[2]}", f"md|{parts[1]}-{parts[2]}")),
        }

    def _name_material(self, raw: str) -> dict[str, Any]:
        norm = normalize.normalize_name(raw)
        if not norm:
            return {f: None for f in NAME_FIELDS}
        return {
            "name_grams": self.grams.set_of("name", bigrams(norm)),
            # a Latin name's sound is its letters: identity resolution compares its name_grams instead
            "name_pinyin_grams": None if norm.isascii() else self.grams.set_of("pinyin", pinyin_grams(norm)),
            "name_words": self.grams.sequence_of("name word", normalize.name_tokens(raw)),
        }

    def _address_material(self, raw: str) -> dict[str, Any]:
        norm = normalize.normalize_address(raw)
        if not norm:
            return {f: None for f in ADDRESS_FIELDS}
        words = normalize.address_tokens(raw)
        locality = normalize.address_locality(words)
        return {
            "address_grams": self.grams.set_of("address", bigrams(norm)),
            "address_words": self.grams.set_of("address word", words),
            "locality": self.grams.one("locality", locality) if locality else None,
        }
