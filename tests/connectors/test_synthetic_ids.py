"""Identity numbers, organisation codes and names of the synthetic generator."""

from __future__ import annotations

import random
from datetime import date

from connectors.synthetic import ids, names
from connectors.synthetic.people import make_person


def test_check_character_matches_the_standard_example() -> None:
    # GB 11643-1999 worked example
    assert ids.is_valid_id18("11010519491231002X")
    assert not ids.is_valid_id18("110105194912310021")


def test_generated_ids_are_valid_and_carry_birth_date_and_gender() -> None:
    for index in range(0, 60_000, 37):
        person = make_person(5, index, 0.42)
        assert ids.is_valid_id18(person.id18), index
        assert person.id18[6:14] == f"{person.birth:%Y%m%d}", index
        assert ids.id_gender_is_male(person.id18) == person.male, index


def test_typos_never_validate_and_old_format_drops_century_and_check() -> None:
    rng = random.Random(1)
    number = ids.make_id18("411730", date(1975, 6, 1), 123)
    assert all(not ids.is_valid_id18(ids.typo(number, rng)) for _ in range(500))
    old = ids.to_id15(number)
    assert len(old) == 15 and old[6:12] == "750601"


def test_birth_and_sequence_never_repeat_within_two_million_persons_stripes() -> None:
    # uniqueness is decided per stripe; check a few stripes over the whole 2M range
    for stripe in (0, 1, 250, 498):
        seen = {ids.birth_and_sequence(stripe + q * ids.STRIPES, True, 0.77) for q in range(4100)}
        assert len(seen) == 4100, stripe


def test_unified_social_credit_code_has_valid_check_character() -> None:
    code = ids.make_uscc("411730", random.Random(3))
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(chars.index(c) * w for c, w in zip(code[:17], weights, strict=True))
    assert len(code) == 18 and chars[(31 - total % 31) % 31] == code[17]


def test_common_names_repeat_and_noise_changes_them() -> None:
    rng = random.Random(9)
    full = ["".join(names.make_name(rng, rng.random() < 0.5, 1975)) for _ in range(20_000)]
    assert len(set(full)) < len(full) * 0.6  # many people share a name
    assert names.homophone_variant("张伟", random.Random(0)) != "张伟"
    assert names.traditional_variant("陈丽华") == "陳麗華"
    dotted = {names.dot_variant("阿不都·买买提", random.Random(s)) for s in range(50)}
    assert len(dotted) > 2  # middle dot written several ways
