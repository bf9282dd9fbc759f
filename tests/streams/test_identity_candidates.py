"""The batch resolver's candidate pairs (numpy, vector_candidates.py) are the streaming resolver's
(candidates.block_keys): for every key part and combinations of them, on Chinese and Latin records."""

from __future__ import annotations

from itertools import combinations

import pytest

from streams.identity.candidates import block_keys
from streams.identity.config import KEY_PARTS
from streams.identity.profile import Profile
from streams.identity.vector_candidates import candidate_pairs
from tests.support.identity_rows import county_rows, febrl3_rows, protected

KEY = bytes(range(32))
RULES = [(part,) for part in KEY_PARTS] + [("name_word", "locality"), ("name_word", "dob_part"),
                                           ("dob_part", "address_word"), ("name_key", "dob", "locality")]


def _streaming_pairs(profiles: list[Profile], rules: list[tuple[str, ...]]) -> set[tuple[int, int]]:
    members: dict[str, list[int]] = {}
    for index, profile in enumerate(profiles):
        for key in block_keys(profile, tuple(rules)):
            members.setdefault(key, []).append(index)
    return {pair for group in members.values() for pair in combinations(sorted(group), 2)}


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Profile]]:
    from connectors.synthetic.generator import generate

    base = tmp_path_factory.mktemp("candidates-county")
    generate(base, 400, 5)
    out = {}
    for name, rows in (("county", county_rows(base)), ("FEBRL3", list(febrl3_rows())[:1500])):
        distinct = dict.fromkeys(row.profile() for row in protected(rows, KEY))
        out[name] = list(distinct)
    return out


@pytest.mark.parametrize("data", ["county", "FEBRL3"])
def test_batch_candidates_are_the_streaming_candidates(profiles: dict[str, list[Profile]], data: str) -> None:
    found = profiles[data]
    n = len(found)
    codes, masks = candidate_pairs(found, RULES)
    batch = {(int(c) // n, int(c) % n) for c in codes}
    assert batch == _streaming_pairs(found, RULES)
    assert len(batch) > 1000
    for rule, mask in zip(RULES, masks, strict=True):
        selected = {(int(c) // n, int(c) % n) for c in codes[mask]}
        assert selected == _streaming_pairs(found, [rule]), f"{data}: rule {rule}"
