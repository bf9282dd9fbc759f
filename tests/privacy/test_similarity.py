"""Similarity material (keyed gram and word sets, date parts, ID variants): exact, key-independent
comparisons, nothing recomputable without the key, and no pinyin dictionaries for Latin names."""

from __future__ import annotations

import os
import subprocess
import sys

from consent.privacy.blind_index import BlindIndexer
from consent.privacy.grams import GRAM_BYTES, gram_dice, split_hashes
from consent.privacy.linkage import bigrams
from consent.privacy.normalize import (
    address_locality,
    address_tokens,
    date_parts,
    name_tokens,
    transposed_date,
)
from consent.privacy.similarity import SimilarityEncoder

KEY_A, KEY_B = bytes(range(32)), bytes(range(1, 33))


def _dice(x: set[str], y: set[str]) -> float:
    return 2 * len(x & y) / (len(x) + len(y))


def test_gram_dice_is_the_bigram_dice_whatever_the_key() -> None:
    pairs = [("张伟", "张伟伟"), ("Jonathan Smith", "Jonathon Smyth"), ("mitchell green", "green mitchell"),
             ("王芳", "李娜")]
    for key in (KEY_A, KEY_B):
        enc = SimilarityEncoder(key)
        for x, y in pairs:
            got = gram_dice(enc.name(x)["name_grams"], enc.name(y)["name_grams"])
            assert got == _dice(bigrams(x.lower().replace(" ", "")), bigrams(y.lower().replace(" ", "")))


def test_another_key_gives_unrelated_hashes_and_no_plaintext() -> None:
    """An outsider with the encodings but not the key: a dictionary of names hashed under any key they
    can guess matches nothing, and no name or address text is in the bytes."""
    real = SimilarityEncoder(KEY_A)
    guess = SimilarityEncoder(bytes(32))
    material = {**real.name("张伟"), **real.address("北京市朝阳区建外街道建国路88号"), **real.id_number("110105199003071234")}
    guessed = {**guess.name("张伟"), **guess.address("北京市朝阳区建外街道建国路88号"), **guess.id_number("110105199003071234")}
    for field, blob in material.items():
        assert blob and len(blob) % GRAM_BYTES == 0
        assert not set(split_hashes(blob)) & set(split_hashes(guessed[field])), field
        for text in ("张伟", "zhang", "北京", "建国路", "88", "1101051990"):
            assert text.encode() not in blob


def test_name_words_keep_their_order_and_swaps_share_them() -> None:
    enc = SimilarityEncoder(KEY_A)
    a, b = enc.name("Mitchell Green")["name_words"], enc.name("green  MITCHELL")["name_words"]
    assert a != b and sorted(split_hashes(a)) == sorted(split_hashes(b))
    assert name_tokens("阿依古丽·买买提") == ("阿依古丽", "买买提")
    assert name_tokens("張偉") == ("张伟",)  # a Chinese name without separators is one word


def test_latin_names_carry_no_pinyin_and_do_not_load_pypinyin() -> None:
    assert SimilarityEncoder(KEY_A).name("Mitchell Green")["name_pinyin_grams"] is None
    code = ("import sys; from consent.privacy.similarity import SimilarityEncoder as S; "
            "S(bytes(32)).name('Mitchell Green'); print('pypinyin' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.stdout.strip() == "False"


def test_address_words_and_locality() -> None:
    assert address_tokens("湖南省长沙县星沙街道开元东路88号3栋") == (
        "湖南省", "长沙县", "星沙街道", "开元东路", "88", "号", "3", "栋")
    assert address_locality(address_tokens("湖南省长沙县星沙街道开元东路88号")) == "星沙街道"
    assert address_locality(address_tokens("7 wallaby place, delmar, cleveland sa 2119")) == "2119"
    assert address_locality(address_tokens("wallaby place")) is None


def test_dates_transposed_and_in_parts() -> None:
    assert transposed_date("1990-03-07") == "1990-07-03"
    assert transposed_date("1990-03-13") is None and transposed_date("1990-03-03") is None
    assert date_parts("19219503") == ("1921", "95", "03")  # not a date: its parts still compare
    enc, blind = SimilarityEncoder(KEY_A), BlindIndexer(KEY_A)
    a = enc.date_of_birth("1990-03-07", blind)
    assert a["dob_transposed_bi"] == blind.dob("1990-07-03")
    b = enc.date_of_birth("1990/3/8", blind)  # differs in the day: shares year-month only
    shared = [x == y for x, y in zip(split_hashes(a["dob_parts"]), split_hashes(b["dob_parts"]), strict=True)]
    assert shared == [True, False, False]


def test_id_variants_meet_one_typo_apart() -> None:
    enc = SimilarityEncoder(KEY_A)

    def near(x: str, y: str) -> bool:
        return bool(set(split_hashes(enc.id_number(x)["id_variants"])) & set(split_hashes(enc.id_number(y)["id_variants"])))

    assert near("4086030", "4086300")   # swapped neighbours
    assert near("8009122", "8000122")   # one wrong digit
    assert near("8009122", "809122")    # one left out
    assert not near("8009122", "8110122")
