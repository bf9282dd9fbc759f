"""Normalisation of identifiers before blind indexing and linkage encoding.

Two records of the same person must give the same blind index, so every value is first
reduced to one canonical spelling. The rules are explicit and tested (tests/privacy/test_normalize.py):

- resident ID numbers: NFKC (full-width digits become ASCII), whitespace and separators removed,
  upper-cased (a final ``x`` becomes ``X``); 15-digit numbers of the old format are converted to the
  18-character form (century ``19`` inserted, check character computed) so old and new records match.
  The check character (ISO 7064 MOD 11-2) and the embedded birth date are validated; an invalid number
  is still normalised and indexed, but flagged ``valid=False``.
- phones: NFKC, digits only, country code rules (``+86`` / ``0086`` / ``86`` before an 11-digit mobile
  are dropped; Chinese numbers become ``+86`` + national number without trunk ``0``; other ``+``/``00``
  international numbers keep their country code; a bare local number stays bare digits).
- names: NFKC, case-folded, whitespace removed, traditional -> simplified Chinese (OpenCC t2s), every
  middle-dot variant of minority / foreign names unified to ``·``.
- dates: ``YYYY-MM-DD`` from the usual spellings (``1990/1/5``, ``19900105``, ``1990年1月5日``).
- addresses: like names (NFKC, case-folded, whitespace removed, t2s).
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_SEPARATORS = re.compile(r"[\s\-_./·]+")
_WHITESPACE = re.compile(r"\s+")
_NON_DIGITS = re.compile(r"\D+")
# Middle dots seen in transliterated names: · • ・ ‧ ∙ ⋅ ･ ‐ and the full stop variants clerks type.
_DOTS = re.compile("[\u00b7\u2022\u30fb\u2027\u2219\u22c5\uff65\u0387\u16eb\ufe52\uff0e]")
_DATE_PARTS = re.compile(r"^(\d{4})\D{0,2}?(\d{1,2})\D{0,2}?(\d{1,2})\D?$")

def _t2s_table() -> dict[int, str]:
    """Traditional -> simplified, character by character, from OpenCC's own dictionary.
    Names and addresses are not running text, so OpenCC's phrase rules add nothing here,
    and str.translate is ~100x faster than OpenCC's converter."""
    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    table: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        source, _, targets = line.partition("\t")
        if len(source) == 1 and targets:
            table[ord(source)] = targets.split(" ")[0]
    return table


_T2S = _t2s_table()


@dataclass(frozen=True, slots=True)
class NormalizedId:
    value: str
    valid: bool


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _valid_date(yyyymmdd: str) -> bool:
    try:
        _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)
def normalize_id_number(raw: str) -> NormalizedId:
    """Canonical resident ID number and whether it passes format, birth-date and check-digit validation."""
    value = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()
    if len(value) == 15 and value.isdigit():
        first17 = value[:6] + "19" + value[6:]
        return NormalizedId(first17 + id_check_char(first17), _valid_date(first17[6:14]))
    if len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X"):
        valid = value[17] == id_check_char(value[:17]) and _valid_date(value[6:14])
        return NormalizedId(value, valid)
    return NormalizedId(value, False)


@lru_cache(maxsize=65536)
def normalize_phone(raw: str) -> str:
    """Canonical phone number: ``+86`` + national number for Chinese numbers, ``+<cc>...`` for other
    international numbers, bare digits for a local number whose area is unknown. Empty if no digits."""
    text = unicodedata.normalize("NFKC", raw).strip()
    international = text.startswith("+")
    digits = _NON_DIGITS.sub("", text)
    if digits.startswith("00"):
        digits, international = digits[2:], True
    if international:
        if digits.startswith("86"):
            national = digits[2:]
            return "+86" + (national[1:] if national.startswith("0") else national)
        return "+" + digits
    if len(digits) == 13 and digits.startswith("86") and digits[2] == "1":
        return "+" + digits
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
        return "+86" + digits
    if digits.startswith("0") and len(digits) >= 10:  # trunk 0 + area code + subscriber number
        return "+86" + digits[1:]
    return digits


@lru_cache(maxsize=131072)
def normalize_name(raw: str) -> str:
    """Canonical name: NFKC, case-folded, no whitespace, simplified Chinese, one middle dot."""
    text = _WHITESPACE.sub("", unicodedata.normalize("NFKC", raw).casefold())
    text = _DOTS.sub("·", text)
    return text.translate(_T2S) if not text.isascii() else text


@lru_cache(maxsize=131072)
def normalize_address(raw: str) -> str:
    """Canonical address for linkage encoding: same rules as names."""
    return normalize_name(raw)


@lru_cache(maxsize=65536)
def normalize_date(raw: str) -> str:
    """``YYYY-MM-DD`` when the value is a recognisable real date, else the NFKC-stripped text
    (still indexed, so two identical odd spellings still match)."""
    text = _WHITESPACE.sub("", unicodedata.normalize("NFKC", raw))
    match = _DATE_PARTS.match(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
        try:
            return _dt.date(year, month, day).isoformat()
        except ValueError:
            pass
    return text


def normalize_agency_person_id(agency: str, raw: str) -> str:
    """``<agency>:<id>`` with the id NFKC-normalised, stripped and upper-cased."""
    return f"{agency}:{_WHITESPACE.sub('', unicodedata.normalize('NFKC', raw)).upper()}"


_TOKEN_SEPARATORS = re.compile(r"[\s·,;，；、]+")


@lru_cache(maxsize=131072)
def name_tokens(raw: str) -> tuple[str, ...]:
    """The parts of a name in their order, each normalised like a name: split at whitespace, middle dots
    and commas (``Mitchell Green`` -> ``mitchell``, ``green``; ``阿依古丽·买买提`` -> two parts). A Chinese
    name written without separators is one part (``张伟``): family and given name are not split."""
    text = _DOTS.sub("·", unicodedata.normalize("NFKC", raw))
    return tuple(t for t in (normalize_name(part) for part in _TOKEN_SEPARATORS.split(text)) if t)


# Where a Chinese address segment ends: administrative levels, roads, numbers, buildings.
_ADDRESS_SUFFIXES = frozenset("省市区县旗镇乡村组路街道巷弄号楼栋幢室屯")
_LOCALITY_SUFFIXES = ("街道", "镇", "乡")


# A word of an address: a number, a run of Latin letters, or a run of other letters cut after an
# administrative or street suffix (街道 kept whole).
_ADDRESS_WORD = re.compile(r"\d+|[a-z]+|(?:(?![a-z])[^\W\d_])+?(?:街道|[" + "".join(sorted(_ADDRESS_SUFFIXES))
                           + r"])|(?:(?![a-z])[^\W\d_])+")


@lru_cache(maxsize=131072)
def address_tokens(raw: str) -> tuple[str, ...]:
    """The words of an address, in order: numbers, runs of Latin letters, and Chinese segments cut
    after an administrative or street suffix (``北京市东城区东华门街道1号`` -> ``北京市``, ``东城区``,
    ``东华门街道``, ``1``, ``号``); normalised like names (NFKC, case-folded, simplified)."""
    text = unicodedata.normalize("NFKC", raw).casefold()
    text = text.translate(_T2S) if not text.isascii() else text
    return tuple(_ADDRESS_WORD.findall(text))


def address_locality(tokens: tuple[str, ...]) -> str | None:
    """The address's locality, for grouping candidates: the township of a Chinese address (the last
    segment ending in 街道 / 镇 / 乡), else the last number of 4 to 6 digits (a postcode)."""
    for token in reversed(tokens):
        if token.endswith(_LOCALITY_SUFFIXES):
            return token
    for token in reversed(tokens):
        if token.isdigit() and 4 <= len(token) <= 6:
            return token
    return None


@lru_cache(maxsize=65536)
def date_parts(normalized_date: str) -> tuple[str, str, str] | None:
    """(year, month, day) of a normalised date: of ``YYYY-MM-DD``, and of eight digits that are not a
    real date (``19219503``: a typo keeps its other parts); None otherwise."""
    if len(normalized_date) == 10 and normalized_date[4] == "-" == normalized_date[7]:
        return normalized_date[:4], normalized_date[5:7], normalized_date[8:]
    if len(normalized_date) == 8 and normalized_date.isdigit():
        return normalized_date[:4], normalized_date[4:6], normalized_date[6:]
    return None


def transposed_date(normalized_date: str) -> str | None:
    """The date with day and month exchanged, when that is another real date (``1990-03-07`` ->
    ``1990-07-03``); None otherwise."""
    parts = date_parts(normalized_date)
    if parts is None or len(normalized_date) != 10 or parts[1] == parts[2]:
        return None
    year, month, day = parts
    try:
        return _dt.date(int(year), int(day), int(month)).isoformat()
    except ValueError:
        return None
