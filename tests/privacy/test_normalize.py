"""Normalisation rules applied before blind indexing and linkage encoding."""

from __future__ import annotations

import pytest

from consent.privacy.normalize import (
    id_check_char,
    normalize_address,
    normalize_agency_person_id,
    normalize_date,
    normalize_id_number,
    normalize_name,
    normalize_phone,
)

VALID_X = "11010519491231002X"  # the GB 11643 textbook example: check character X


def test_check_char_matches_the_standard_example() -> None:
    assert id_check_char(VALID_X[:17]) == "X"


@pytest.mark.parametrize(
    "raw",
    ["11010519491231002X", "11010519491231002x", " 110105 19491231 002x ", "１１０１０５１９４９１２３１００２ｘ",
     "110105-19491231-002X"],
)
def test_id_spellings_normalise_to_one_valid_value(raw: str) -> None:
    result = normalize_id_number(raw)
    assert result.value == VALID_X
    assert result.valid is True


def test_id_with_wrong_check_digit_is_kept_but_flagged() -> None:
    result = normalize_id_number("110105194912310021")
    assert result.value == "110105194912310021"
    assert result.valid is False


def test_id_with_impossible_birth_date_is_flagged() -> None:
    first17 = "11010519491331002"  # month 13
    assert normalize_id_number(first17 + id_check_char(first17)).valid is False


def test_malformed_id_is_indexed_as_is_and_flagged() -> None:
    result = normalize_id_number("abc 123")
    assert (result.value, result.valid) == ("ABC123", False)


def test_old_15_digit_id_becomes_the_18_character_form() -> None:
    old = "110105491231002"  # 15-digit: YYMMDD birth date, no check character
    result = normalize_id_number(old)
    assert result.value == VALID_X
    assert result.valid is True


@pytest.mark.parametrize(
    "raw",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+8613812345678",
     "008613812345678", "8613812345678", "（+86）１３８１２３４５６７８"],
)
def test_mobile_spellings_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+8613812345678"


@pytest.mark.parametrize("raw", ["010-12345678", "(010) 1234 5678", "+86 10 1234 5678", "0086-10-12345678"])
def test_landline_with_area_code_drops_the_trunk_zero(raw: str) -> None:
    assert normalize_phone(raw) == "+861012345678"


def test_foreign_numbers_keep_their_country_code() -> None:
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    assert normalize_phone("0044 20 7946 0958") == "+442079460958"


def test_local_number_without_area_code_stays_bare_digits() -> None:
    assert normalize_phone("6512-3456") == "65123456"
    assert normalize_phone("n/a") == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("張偉", "张伟"), (" 张 伟 ", "张伟"), ("张\u3000伟", "张伟"), ("ＪＯＨＮ  Smith", "johnsmith"),
     ("阿卜杜・热合曼", "阿卜杜·热合曼"), ("阿卜杜•热合曼", "阿卜杜·热合曼"), ("歐陽娜娜", "欧阳娜娜")],
)
def test_names(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    "raw", ["1990-03-07", "1990/3/7", "19900307", "1990年3月7日", "1990.03.07", " 1990-3-7 "]
)
def test_dates(raw: str) -> None:
    assert normalize_date(raw) == "1990-03-07"


def test_unparseable_date_is_kept_as_stripped_text() -> None:
    assert normalize_date("1990-02-30") == "1990-02-30"
    assert normalize_date(" unknown ") == "unknown"


def test_address_and_agency_person_id() -> None:
    assert normalize_address("北京市 朝陽區 建國路８８號") == "北京市朝阳区建国路88号"
    assert normalize_agency_person_id("justice", " jz-0042 ") == "justice:JZ-0042"
