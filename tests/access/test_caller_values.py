"""The caller's values: how they travel (percent-encoded UTF-8 in the context headers) and what the
trail may keep of them (known values as they are; others by length and keyed hash only)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consent.access.caller_values import (
    BAD_CHARACTER,
    TOO_LONG,
    UNDECODABLE,
    UNKNOWN,
    ValueHasher,
    problem_of,
    screen,
)
from hub.services.transport import decode_value, encode_value

# what agencies write, and what a property test should push: CJK, full-width, emoji, right-to-left
CASE_TEXT = st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs")), min_size=1, max_size=64)


@given(CASE_TEXT)
def test_every_value_survives_the_header_transport(value: str) -> None:
    header = encode_value(value)
    assert header.isascii() and all(0x21 <= ord(c) <= 0x7E for c in header)
    assert decode_value(header.encode("ascii").decode("latin-1")) == value.strip()


def test_agency_case_numbers_travel_and_pass() -> None:
    for case in ("（2025）城关调字第2号", "（2019）豫1730执1号", "J411730010000202503150002", "4117302022JZ0001"):
        assert decode_value(encode_value(case)) == case and problem_of("case_id", case) is None


def test_bytes_that_are_not_percent_encoded_utf8_are_undecodable() -> None:
    raw_utf8 = "（2025）城关调字第2号".encode().decode("latin-1")  # what a server reads of raw UTF-8
    assert problem_of("case_id", decode_value(raw_utf8)) == UNDECODABLE
    assert problem_of("case_id", decode_value("%FF%FE")) == UNDECODABLE
    assert problem_of("case_id", decode_value("%E5%9F")) == UNDECODABLE  # a truncated character


def test_control_format_and_long_values_are_refused() -> None:
    assert problem_of("case_id", "城关\u202e调字") == BAD_CHARACTER  # bidi override
    assert problem_of("case_id", "城关\u200b调字") == BAD_CHARACTER  # zero width space
    assert problem_of("case_id", "城关\t调字") == BAD_CHARACTER
    assert problem_of("case_id", "号" * 65) == TOO_LONG
    assert problem_of("break_glass_reason", "现场紧急，" * 30) is None


def test_screening_keeps_known_values_and_withholds_the_rest() -> None:
    hasher = ValueHasher(b"k" * 32)
    seen = screen(role="mediator", purpose="13800138000", case_id="（2025）城关调字第2号", break_glass_reason=None,
                  known_role=lambda r: r == "mediator", known_purpose=lambda p: p == "dispute_mediation",
                  known_case=lambda c: c == "（2025）城关调字第2号", hasher=hasher)
    assert (seen.role, seen.purpose, seen.case_id, seen.invalid) == ("mediator", "", "（2025）城关调字第2号", None)
    [withheld] = seen.withheld
    assert withheld == {"field": "purpose", "problem": UNKNOWN, **hasher("13800138000")}
    assert withheld["length"] == 11 and "13800138000" not in str(withheld)
    bad = screen(role="mediator", purpose="dispute_mediation", case_id="%FF", break_glass_reason="x" * 2000,
                 known_role=lambda r: True, known_purpose=lambda p: True, known_case=lambda c: False,
                 hasher=hasher)
    assert bad.invalid == ("break_glass_reason", TOO_LONG)
    assert [(w["field"], w["problem"]) for w in bad.withheld] == [("case_id", UNKNOWN),
                                                                  ("break_glass_reason", TOO_LONG)]
    assert "hmac" not in bad.withheld[1]   # free text: its length only


def test_the_hash_is_keyed() -> None:
    assert ValueHasher(b"a" * 32)("x") != ValueHasher(b"b" * 32)("x")
    assert ValueHasher(b"a" * 32)("x") == ValueHasher(b"a" * 32)("x")
