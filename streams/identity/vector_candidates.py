"""The candidate pairs of many profiles at once, with numpy: candidates.py's keys, as integer codes.

For each key part a profile gets the same values as `candidates.part_values` (coded as integers:
equal codes for equal values), a rule's keys are the combinations of its parts' values within one
profile, and two profiles are a candidate pair when they share a key of some rule — the pairs the
streaming resolver scores (tests/streams/test_identity_candidates.py checks both agree).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streams.identity.profile import GRAM_BYTES, Profile

_HASH_PARTS = {"name_word": "name_words", "dob_part": "dob_parts", "address_word": "address_words",
               "id_variant": "id_variants"}


def _dense(values: np.ndarray) -> tuple[np.ndarray, int]:
    if len(values) == 0:
        return values.astype(np.int64), 0
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), len(uniques)


def part_codes(profiles: Sequence[Profile], part: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(profile index, value code, number of codes) of each distinct value of a key part in a profile."""
    n = len(profiles)
    field = _HASH_PARTS.get(part)
    if field is not None:  # a set of keyed hashes per profile (dob_part: each with its position)
        blobs = [getattr(p, field) or b"" for p in profiles]
        lengths = np.fromiter((len(b) // GRAM_BYTES for b in blobs), dtype=np.int64, count=n)
        flat = np.frombuffer(b"".join(blobs), dtype=np.uint64)
        owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
        codes, size = _dense(flat)
        if part == "dob_part":
            position = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            width = int(position.max()) + 1 if len(position) else 1
            codes, size = codes * width + position, size * width
        once = np.unique(owner * max(size, 1) + codes)  # a value once per profile
        return once // max(size, 1), once % max(size, 1), size
    table: dict[object, int] = {}
    nodes: list[int] = []
    codes_list: list[int] = []
    for i, profile in enumerate(profiles):
        if part == "name_words":  # the words in any order
            blob = profile.name_words
            value: object = (b"".join(sorted(blob[k:k + GRAM_BYTES] for k in range(0, len(blob), GRAM_BYTES)))
                             if blob else None)
        else:
            value = getattr(profile, part)
        if value:
            nodes.append(i)
            codes_list.append(table.setdefault(value, len(table)))
    return np.asarray(nodes, dtype=np.int64), np.asarray(codes_list, dtype=np.int64), len(table)


def _combine(a: tuple[np.ndarray, np.ndarray, int], b: tuple[np.ndarray, np.ndarray, int]
             ) -> tuple[np.ndarray, np.ndarray, int]:
    """Every (value of a, value of b) of the same profile, coded."""
    a_node, a_code, _ = a
    order = np.argsort(b[0], kind="stable")
    b_node, b_code, b_size = b[0][order], b[1][order], b[2]
    start = np.searchsorted(b_node, a_node, "left")
    count = np.searchsorted(b_node, a_node, "right") - start
    pick_a = np.repeat(np.arange(len(a_node)), count)
    pick_b = np.repeat(start, count) + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    codes, size = _dense(a_code[pick_a] * max(b_size, 1) + b_code[pick_b])
    return a_node[pick_a], codes, size


def rule_memberships(profiles: Sequence[Profile], rules: Sequence[Sequence[str]]
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per rule: (group, member) of each key of each profile, groups numbered from 0 within the rule."""
    parts: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    out = []
    for rule in rules:
        found = None
        for part in rule:
            if part not in parts:
                parts[part] = part_codes(profiles, part)
            found = parts[part] if found is None else _combine(found, parts[part])
        assert found is not None
        nodes, codes, size = found
        unique = np.unique(codes * len(profiles) + nodes) if len(nodes) else nodes
        out.append((unique // max(len(profiles), 1), unique % max(len(profiles), 1)))
    return out


def group_pairs(groups: np.ndarray, members: np.ndarray, n: int) -> np.ndarray:
    """Every pair of members (i < j) that share a group, once, as sorted codes i * n + j: for each
    membership, its partners are the later members of its group."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((members, groups))
    groups, members = groups[order], members[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    position = np.arange(len(groups)) - np.repeat(starts, sizes)
    partners = np.repeat(sizes, sizes) - position - 1
    total = int(partners.sum())
    first = np.repeat(np.arange(len(groups)), partners)
    offset = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    a, b = members[first], members[first + 1 + offset]
    return np.unique(np.minimum(a, b) * n + np.maximum(a, b))


def candidate_pairs(profiles: Sequence[Profile], rules: Sequence[Sequence[str]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The candidate pairs as sorted codes i * n + j (i < j), and per rule which of them it selects."""
    n = len(profiles)
    per_rule = [group_pairs(groups, members, n) for groups, members in rule_memberships(profiles, rules)]
    codes = np.unique(np.concatenate(per_rule)) if per_rule else np.zeros(0, dtype=np.int64)
    return codes, [np.isin(codes, selected, assume_unique=True) for selected in per_rule]
