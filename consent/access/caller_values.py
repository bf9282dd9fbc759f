"""What a caller sends about itself — role, purpose, case number, break-glass reason — is checked
before anything of it is kept, and what the audit trail records of a value that fails is its length
and a keyed hash, never the value.

A value fails when it is *invalid* (undecodable bytes, control or format characters, longer than its
limit: the request is refused with 400) or *unknown* (a role or purpose the policy does not define,
a case number the hub has no case for: refused as before, 403). Only known roles, purposes and case
numbers are written to the trail as they are; anything else — an ID number typed into the case box,
a phone number sent as a purpose — leaves only `{"field", "length", "hmac"}` behind. The keyed hash
lets the key holder (the DPO, with the hub's keys) check whether a given value was sent, without the
trail holding it.

Undecodable bytes arrive as lone surrogates (Python's `surrogateescape`, which is how both the
HTTP transport and the command line hand over bytes that are not UTF-8), so one check covers both.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# characters, after decoding; a case number is short, a break-glass reason a sentence or two
LIMITS: Mapping[str, int] = {"role": 64, "purpose": 64, "case_id": 64, "break_glass_reason": 1000}
HASH_HEX = 32  # 128 bits of HMAC-SHA256: enough to tell values apart, too short to matter as a key

UNDECODABLE = "undecodable"  # not UTF-8 (or not percent-encoded, over HTTP)
BAD_CHARACTER = "bad_character"  # a control, format (bidi override, zero width), private-use or unassigned character
TOO_LONG = "too_long"
UNKNOWN = "unknown"  # well formed, but no such role, purpose or case


def problem_of(name: str, value: str) -> str | None:
    """Why `value` cannot be taken as the caller's `name` (one of LIMITS), or None when it can."""
    if len(value) > LIMITS[name]:
        return TOO_LONG
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            return UNDECODABLE
        if category[0] == "C" or category in ("Zl", "Zp"):
            return BAD_CHARACTER
    return None


def raw_bytes(value: str) -> bytes:
    """The bytes the caller sent (undecodable ones come back from their surrogates)."""
    return value.encode("utf-8", "surrogateescape")


class ValueHasher:
    """HMAC-SHA256 of withheld values under one key (derive it from the keystore's matching key, so
    digests are stable across restarts; without a key, a random per-process one)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or os.urandom(32)

    def __call__(self, value: str) -> dict[str, object]:
        raw = raw_bytes(value)
        return {"length": len(raw), "hmac": hmac.new(self._key, raw, hashlib.sha256).hexdigest()[:HASH_HEX]}


@dataclass(frozen=True, slots=True)
class Screened:
    """The caller's values as the trail may record them, and what was withheld."""

    role: str
    purpose: str
    case_id: str | None
    withheld: tuple[dict[str, object], ...] = ()
    invalid: tuple[str, str] | None = None  # (field, problem) of the first invalid value
    unknown: frozenset[str] = field(default_factory=frozenset)


def screen(*, role: str, purpose: str, case_id: str | None, break_glass_reason: str | None,
           known_role: Callable[[str], bool], known_purpose: Callable[[str], bool],
           known_case: Callable[[str], bool], hasher: ValueHasher) -> Screened:
    """Check each value; keep the known ones, withhold (length + keyed hash) the others."""
    values = {"role": role, "purpose": purpose, "case_id": case_id, "break_glass_reason": break_glass_reason}
    known = {"role": known_role, "purpose": known_purpose, "case_id": known_case}
    withheld: list[dict[str, object]] = []
    invalid: tuple[str, str] | None = None
    unknown: set[str] = set()
    for name, value in values.items():
        if not value:
            continue
        problem = problem_of(name, value)
        if problem is not None:
            invalid = invalid or (name, problem)
        elif name in known and not known[name](value):
            problem = UNKNOWN
            unknown.add(name)
        if problem is not None and name != "break_glass_reason":  # the reason is sealed, never kept raw
            withheld.append({"field": name, "problem": problem, **hasher(value)})
        elif problem is not None:
            withheld.append({"field": name, "problem": problem, "length": len(raw_bytes(value))})
    kept = {name: ("" if any(w["field"] == name for w in withheld) else (value or ""))
            for name, value in values.items()}
    return Screened(kept["role"], kept["purpose"], kept["case_id"] or None, tuple(withheld), invalid,
                    frozenset(unknown))
