"""Resident identity numbers (GB 11643-1999), organisation codes (GB 32100-2015), phones,
and the collision-free assignment of birth dates and sequence numbers.

Uniqueness without global state: person ``index`` is split into a stripe ``j = index % 499`` and a
position ``q = index // 499``. The 3-digit sequence comes from ``j`` (odd for men, even for women),
so two people can only share an id number if they share ``j`` and a birth date. Within a stripe the
birth date is the inverse age-distribution CDF of a golden-ratio (Weyl) sequence in ``q``; its points
are at least ~1/(2.6·q_max) apart, wider than any single day's probability mass for up to about
2 million persons, so birth dates in a stripe never repeat (checked by a test).
"""

from __future__ import annotations

import random
from bisect import bisect
from datetime import date, timedelta
from itertools import accumulate

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
STRIPES = 499
_PHI = 0.6180339887498949

BIRTH_FIRST = date(1940, 1, 1)
BIRTH_LAST = date(2006, 12, 31)
# Relative cohort sizes per birth decade (a rough population pyramid).
_DECADE_WEIGHT = {1940: 0.45, 1950: 0.9, 1960: 1.3, 1970: 1.0, 1980: 1.1, 1990: 1.0, 2000: 0.8}
_DAYS = (BIRTH_LAST - BIRTH_FIRST).days + 1
_DAY_CUM = list(accumulate(
    _DECADE_WEIGHT[(BIRTH_FIRST + timedelta(d)).year // 10 * 10] for d in range(_DAYS)))


def check_char(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def is_valid_id18(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit():
        return False
    return check_char(number[:17]) == number[17].upper()


def make_id18(division: str, birth: date, sequence: int) -> str:
    first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)


def to_id15(id18: str) -> str:
    """The pre-1999 15-digit form: no century, no check character."""
    return id18[:6] + id18[8:17]


def id_gender_is_male(id18: str) -> bool:
    return int(id18[16]) % 2 == 1


def typo(number: str, rng: random.Random) -> str:
    """One mistyped digit or two swapped neighbours in the first 17 characters; the check
    character is left as it was, as a clerk would, so the number no longer validates."""
    digits = list(number)
    i = rng.randrange(6, 16)
    if rng.random() < 0.5 and digits[i] != digits[i + 1]:
        digits[i], digits[i + 1] = digits[i + 1], digits[i]
    else:
        digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
    return "".join(digits)


def birth_and_sequence(index: int, male: bool, salt: float) -> tuple[date, int]:
    """Birth date and 3-digit sequence for person ``index``; unique per (birth, sequence)."""
    stripe, position = divmod(index, STRIPES)[::-1]
    u = (salt + stripe * 0.3819660112501051 + position * _PHI) % 1.0
    day = bisect(_DAY_CUM, u * _DAY_CUM[-1])
    sequence = 2 * stripe + (1 if male else 2)
    return BIRTH_FIRST + timedelta(days=min(day, _DAYS - 1)), sequence


# --- organisations ---------------------------------------------------------------------------
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def make_uscc(division: str, rng: random.Random) -> str:
    """Unified social credit code (统一社会信用代码) with a valid check character."""
    body = "91" + division + "".join(rng.choice(_USCC_CHARS) for _ in range(9))
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


# --- phones ------------------------------------------------------------------------------------
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "173", "176", "177", "178", "180", "181", "182", "183",
    "185", "186", "187", "188", "189", "191", "198", "199",
)


def make_mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def make_landline(rng: random.Random, area_code: str) -> str:
    return f"{area_code}-{rng.choice('2345678')}{rng.randrange(10**6):06d}"
