"""Recall on shifted and missing fields, on protected values only: a date with day and month
exchanged, given and family names swapped, a field missing on one side (no evidence either way), an
address shortened or reordered (its words). People come from a generated county (and FEBRL, the public
benchmark, for Latin names); every pair is scored by the streaming scorer and by the numpy one, which
must agree to the bit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from connectors.synthetic.addresses import CITY, PROVINCE
from consent.privacy.normalize import normalize_date
from streams.identity.batch import PartyProtection
from streams.identity.compare import Scorer
from streams.identity.config import MatchConfig, load_config
from streams.identity.profile import Profile, from_protection
from streams.identity.vectors import Columns, VectorScorer
from tests.support.identity_rows import county_rows, febrl3_rows

Party = dict[str, Any]


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> list[Party]:
    from connectors.synthetic.generator import generate

    base = tmp_path_factory.mktemp("recall-county")
    generate(base, 600, 13)
    return [party for _, _, party in county_rows(base)]


@pytest.fixture(scope="module")
def protection() -> Iterator[PartyProtection]:
    found = PartyProtection()
    yield found
    found.close()


@pytest.fixture(scope="module")
def model() -> MatchConfig:
    return load_config(None)  # the streaming resolver's default model (config.toml)


def _profile(protection: PartyProtection, party: Party, **changes: str | None) -> Profile:
    plain = {k: v for k, v in {**party, **changes}.items() if k != "gender"}
    return from_protection(protection.protect(plain, "police", "recall"), party.get("gender"), "police")


def _level(model: MatchConfig, scorer: Scorer, attribute: str, a: Profile, b: Profile) -> int:
    index = next(k for k, c in enumerate(model.comparisons) if c.attribute == attribute)
    return scorer.gamma(a, b)[index]


def _weight(model: MatchConfig, attribute: str, level: int) -> float:
    comparison = next(c for c in model.comparisons if c.attribute == attribute)
    return comparison.all_levels[level].weight


def _scores(model: MatchConfig, pairs: list[tuple[Profile, Profile]]) -> list[float]:
    """Scorer.score of each pair, checked against the numpy scorer of the batch resolver."""
    profiles = [p for pair in pairs for p in pair]
    i, j = np.arange(0, len(profiles), 2), np.arange(1, len(profiles), 2)
    vector = VectorScorer(model, Columns(profiles), profiles).scores(i, j).tolist()
    scalar = [Scorer(model).score(a, b) for a, b in pairs]
    assert vector == scalar, "the numpy scorer differs from the streaming one"
    return scalar


def _first(parties: list[Party], test: Any) -> Party:
    found = next((p for p in parties if test(p)), None)
    assert found is not None, "the county has no such party"
    return found


def test_day_and_month_exchanged_is_partial_agreement(parties: list[Party], protection: PartyProtection,
                                                       model: MatchConfig) -> None:
    def transposable(p: Party) -> bool:
        date = normalize_date(p.get("date_of_birth") or "")
        return bool(p.get("name") and p.get("address") and len(date) == 10 and date[5:7] != date[8:]
                    and int(date[8:]) <= 12)

    party = _first(parties, transposable)
    date = normalize_date(party["date_of_birth"])
    year, month, day = int(date[:4]), int(date[5:7]), int(date[8:])
    bare = {"id_number": None, "phone": None}
    a = _profile(protection, party, **bare)
    b = _profile(protection, party, date_of_birth=f"{year}-{day:02d}-{month:02d}", **bare)
    c = _profile(protection, party, date_of_birth=f"{year - 7}-{month % 12 + 1:02d}-{day % 28 + 1:02d}", **bare)
    level = _level(model, Scorer(model), "date_of_birth", a, b)
    dob = next(c for c in model.comparisons if c.attribute == "date_of_birth")
    assert dob.all_levels[level].conditions == (("dob_transposed", 1.0),)
    assert _weight(model, "date_of_birth", level) > 0 > _weight(model, "date_of_birth", len(dob.levels))
    transposed, unrelated = _scores(model, [(a, b), (a, c)])
    assert transposed >= model.match_threshold > unrelated, "name, address and a transposed date link"


@pytest.mark.parametrize("source", ["county", "FEBRL"])
def test_given_and_family_names_swapped(parties: list[Party], protection: PartyProtection, model: MatchConfig,
                                        source: str) -> None:
    if source == "county":  # Uyghur names: own name · father's name
        party = _first(parties, lambda p: "·" in (p.get("name") or "") and p.get("date_of_birth"))
        own, father = party["name"].split("·")
        swapped = f"{father}·{own}"
    else:
        party = _first([r[2] for r in febrl3_rows()],
                       lambda p: len((p.get("name") or "").split()) == 2 and p.get("date_of_birth"))
        given, family = party["name"].split()
        swapped = f"{family} {given}"
    bare = {"id_number": None, "phone": None, "address": None}
    a, b = _profile(protection, party, **bare), _profile(protection, party, name=swapped, **bare)
    level = _level(model, Scorer(model), "name", a, b)
    name = next(c for c in model.comparisons if c.attribute == "name")
    assert name.all_levels[level].conditions == (("name_words", 1.0),), "the same words in another order"
    (score,) = _scores(model, [(a, b)])
    assert score >= model.match_threshold, "a swapped name with the same date of birth links"


def test_a_missing_field_is_no_evidence_either_way(parties: list[Party], protection: PartyProtection,
                                                   model: MatchConfig) -> None:
    party = _first(parties, lambda p: p.get("phone") and p.get("address") and p.get("name"))
    other = _first(parties, lambda p: p.get("address") and p.get("address") != party["address"]
                   and p.get("phone") and p.get("phone") != party["phone"])
    full = _profile(protection, party)
    no_phone = _profile(protection, party, phone=None)
    scorer = Scorer(model)
    phone = [e for e in scorer.explain(full, no_phone).evidence if e["attribute"] == "phone"]
    assert phone == [{"attribute": "phone", "outcome": "missing", "weight": 0.0, "similarity": None}]
    no_address = _profile(protection, party, phone=None, address=None)
    moved = _profile(protection, party, phone=None, address=other["address"])
    other_phone = _profile(protection, party, phone=other["phone"])
    with_phone, without, missing, different, changed = _scores(
        model, [(full, no_phone), (no_phone, no_phone), (no_phone, no_address), (no_phone, moved),
                (full, other_phone)])
    assert with_phone == without, "a phone on one side only adds nothing"
    assert missing > different, "a missing address weighs nothing, a different one counts against"
    assert with_phone > changed, "a different phone counts against"


def test_a_shortened_address_agrees_by_its_words(parties: list[Party], protection: PartyProtection,
                                                  model: MatchConfig) -> None:
    prefix = PROVINCE + CITY  # a clerk leaves out the province and the city
    # the shortest such address: without its prefix, it keeps too few of its character pairs for a Dice of 0.7
    party = min((p for p in parties if (p.get("address") or "").startswith(prefix) and len(p["address"]) > 15),
                key=lambda p: (len(p["address"]), p["address"]))
    bare = {"id_number": None, "phone": None, "date_of_birth": None}
    full = _profile(protection, party, **bare)
    short = _profile(protection, party, address=party["address"][len(prefix):], **bare)
    scorer = Scorer(model)
    level = _level(model, scorer, "address", full, short)
    address = next(c for c in model.comparisons if c.attribute == "address")
    assert dict(address.all_levels[level].conditions).get("address_within") == 0.8, \
        [e for e in scorer.explain(full, short).evidence if e["attribute"].startswith("address")]
    weaker = next(k for k, lv in enumerate(address.levels) if lv.conditions == (("address", 0.55),))
    assert _weight(model, "address", level) > _weight(model, "address", weaker)
    _scores(model, [(full, short)])
