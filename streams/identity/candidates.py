"""Which pairs are scored: those that agree on every key of at least one candidate rule.

A rule is a list of key parts (config.KEY_PARTS); a profile's keys for a rule are the combinations of
its values of those parts (a name has several words, a date three parts), and it has none when a part
is missing. Keys are equality of keyed hashes: the same records give the same pairs whatever the
matching key and whatever the order they arrive in. The streaming resolver keeps, per key, the nodes
that have it (clusters.Graph.group); the batch resolver groups a whole input by them (batch.py).
"""

from __future__ import annotations

from itertools import product

from streams.identity.profile import GRAM_BYTES, Profile


def _hexes(blob: bytes) -> list[str]:
    text = blob.hex()
    return [text[i : i + 2 * GRAM_BYTES] for i in range(0, len(text), 2 * GRAM_BYTES)]


def part_values(profile: Profile, part: str) -> list[str]:
    if part == "name_word":
        return sorted(set(_hexes(profile.name_words))) if profile.name_words else []
    if part == "name_words":
        return ["".join(sorted(_hexes(profile.name_words)))] if profile.name_words else []
    if part == "dob_part":
        return [f"{i}{h}" for i, h in enumerate(_hexes(profile.dob_parts))] if profile.dob_parts else []
    if part == "address_word":
        return _hexes(profile.address_words) if profile.address_words else []
    if part == "id_variant":
        return _hexes(profile.id_variants) if profile.id_variants else []
    if part == "locality":
        return [profile.locality.hex()] if profile.locality else []
    value = getattr(profile, part)
    return [value] if value else []


def block_keys(profile: Profile, rules: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    """The profile's candidate keys under the rules, sorted ("<rule index>:<values>")."""
    keys: set[str] = set()
    for index, rule in enumerate(rules):
        values = [part_values(profile, part) for part in rule]
        if all(values):
            keys.update(f"{index}:" + "|".join(combo) for combo in product(*values))
    return tuple(sorted(keys))
