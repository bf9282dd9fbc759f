"""Keyed Bloom-filter linkage encodings (CLKs) and the Dice coefficient."""

from __future__ import annotations

import pytest

from consent.privacy.linkage import FILTER_BYTES, LinkageEncoder, bigrams, dice, pinyin_grams

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def enc() -> LinkageEncoder:
    return LinkageEncoder(KEY)


def test_dice_basics() -> None:
    assert dice(b"\xff\x00", b"\xff\x00") == 1.0
    assert dice(b"\xf0\x00", b"\x0f\x00") == 0.0
    assert dice(b"\xf0", b"\xff") == pytest.approx(2 * 4 / 12)
    assert dice(b"\x00", b"\x00") == 0.0
    with pytest.raises(ValueError):
        dice(b"\x00", b"\x00\x00")


def test_bigrams_are_padded() -> None:
    assert bigrams("张伟") == {"_张", "张伟", "伟_"}
    assert bigrams("") == set()
    assert "zhang|wei" in pinyin_grams("张伟") and "_z" in pinyin_grams("张伟")


def test_filters_have_fixed_length_and_are_deterministic(enc: LinkageEncoder) -> None:
    assert len(enc.name("张伟")) == FILTER_BYTES
    assert enc.name("张伟") == LinkageEncoder(KEY).name("张伟")
    assert enc.name("") is None and enc.address("  ") is None


def test_homophones_stay_close_in_pinyin(enc: LinkageEncoder) -> None:
    assert dice(enc.name("张伟"), enc.name("章伟")) < 0.5  # one of three character bigrams shared
    assert dice(enc.name_pinyin("张伟"), enc.name_pinyin("章伟")) == 1.0  # same sound
    assert dice(enc.name_pinyin("李娜"), enc.name_pinyin("李纳")) == 1.0


def test_similar_and_different_names(enc: LinkageEncoder) -> None:
    assert dice(enc.name("张伟"), enc.name("张伟伟")) > 0.8
    assert dice(enc.name_pinyin("张伟"), enc.name_pinyin("张伟伟")) < 1.0  # syllable bigrams see the repeat
    assert dice(enc.name("王芳"), enc.name("李娜")) < 0.15
    assert dice(enc.name_pinyin("王芳"), enc.name_pinyin("李娜")) < 0.2
    assert dice(enc.name("張偉"), enc.name("张伟")) == 1.0  # traditional -> simplified first


def test_latin_names_and_addresses(enc: LinkageEncoder) -> None:
    assert dice(enc.name("Jonathan Smith"), enc.name("Jonathon Smyth")) > 0.65
    assert dice(enc.name("Jonathan Smith"), enc.name("Alice Brown")) < 0.25
    a = enc.address("北京市朝阳区建国路88号")
    assert dice(a, enc.address("北京市朝阳区建国路88号院")) > 0.85
    assert dice(a, enc.address("南京市玄武区中山路1号")) < 0.4


def test_another_key_gives_unrelated_filters(enc: LinkageEncoder) -> None:
    other = LinkageEncoder(bytes(32))
    assert other.name("张伟") != enc.name("张伟")
    assert dice(other.name("张伟"), enc.name("张伟")) < 0.3


def test_name_key_groups_names_that_sound_alike() -> None:
    from consent.privacy.linkage import name_key

    same = ["张伟", "章伟", "張偉", "张 伟"]
    assert len({name_key(n.replace(" ", "")) for n in same}) == 1
    assert name_key("王玲") == name_key("王琳"), "near-homophones (-ng / -n) share the key"
    assert name_key("阿依古丽·买买提") == name_key("阿依古丽买买提"), "middle dots do not count"
    assert name_key("张伟") != name_key("张伟伟") and name_key("张伟") != name_key("王伟")
    assert name_key("johnsmith") == "johnsmith"
