"""Keyed n-gram and token sets: similarity material whose comparisons do not depend on the key.

Each gram (a character bigram of a name or an address, a pinyin feature, a name or address word, a
part of a date) becomes the first 8 bytes of HMAC-SHA256 under a per-kind sub-key of the matching
key; a value becomes its grams' hashes, sorted, concatenated (bytes, 8 per gram). Without the key the
hashes cannot be rebuilt from a dictionary of names. Two values are compared by the Dice coefficient
of their sets, which is the Dice similarity of the grams themselves: unlike a Bloom filter (CLK),
whose bits collide differently under each key, the result is the same whatever the matching key
(64-bit hashes: a collision between two of a few thousand grams has odds below 1e-12), so the same
records give the same persons after a key rotation. What it reveals to a reader of many encodings
is which records share a gram, as a CLK's bits do (consent/privacy/PRIVACY.md).

Kinds and sub-keys (HKDF info ``justlink grams <kind>``): ``name`` (character bigrams of the
normalised name), ``pinyin`` (consent.privacy.linkage.pinyin_grams), ``address`` (character bigrams
of the normalised address), ``name word`` (each part of the name, in order), ``address word`` (the
address's words, sorted), ``locality`` (the township or postcode), ``date part`` (year-month,
year-day, month-day of the date of birth), ``id variant`` (the ID number with one character left out,
each way: two numbers one typo apart — a wrong, missing, extra or swapped character — share one).
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes, hmac

from consent.privacy.blind_index import derive_subkey

GRAM_BYTES = 8
KINDS = ("name", "pinyin", "address", "name word", "address word", "locality", "date part", "id variant")
_MAX_CACHED = 200_000


class _GramHasher:
    """gram -> 8-byte keyed hash, memoised in `cache` (grams repeat across values)."""

    def __init__(self, key: bytes) -> None:
        self._template = hmac.HMAC(key, hashes.SHA256())
        self.cache: dict[str, bytes] = {}

    def fill(self, grams: set[str] | frozenset[str]) -> dict[str, bytes]:
        """Make sure every gram is in the cache (computing the missing ones); the cache."""
        cache = self.cache
        missing = grams.difference(cache)
        if missing:
            if len(cache) + len(missing) > _MAX_CACHED:
                cache.clear()
                missing = set(grams)
            template = self._template
            for gram in missing:
                mac = template.copy()
                mac.update(gram.encode())
                cache[gram] = mac.finalize()[:GRAM_BYTES]
        return cache

    def __call__(self, gram: str) -> bytes:
        found = self.cache.get(gram)
        return found if found is not None else self.fill({gram})[gram]


class GramEncoder:
    """Keyed gram sets (sorted) and keyed word sequences (in order) of already-normalised values."""

    def __init__(self, matching_key: bytes) -> None:
        self._hashers = {kind: _GramHasher(derive_subkey(matching_key, f"grams {kind}")) for kind in KINDS}

    def set_of(self, kind: str, grams: Iterable[str]) -> bytes | None:
        """The sorted set of the grams' hashes; None when there is none."""
        hasher = self._hashers[kind]
        if not isinstance(grams, (set, frozenset, tuple, list)):
            grams = set(grams)  # read twice below
        try:  # the common case: every gram seen before
            hashed = set(map(hasher.cache.__getitem__, grams))
        except KeyError:
            hashed = set(map(hasher.fill(set(grams)).__getitem__, grams))
        return b"".join(sorted(hashed)) if hashed else None

    def sequence_of(self, kind: str, words: Iterable[str]) -> bytes | None:
        """The words' hashes in their order (repeats kept); None when there is none."""
        words = list(words)
        cache = self._hashers[kind].fill(set(words))
        return b"".join(map(cache.__getitem__, words)) if words else None

    def one(self, kind: str, value: str) -> bytes:
        return self._hashers[kind](value)


def split_hashes(blob: bytes | None) -> list[bytes]:
    """The 8-byte hashes of an encoding, in stored order."""
    if not blob:
        return []
    return [blob[i : i + GRAM_BYTES] for i in range(0, len(blob), GRAM_BYTES)]


def gram_dice(a: bytes | None, b: bytes | None) -> float | None:
    """Dice coefficient of two keyed gram sets; None when either is missing."""
    x, y = set(split_hashes(a)), set(split_hashes(b))
    if not x or not y:
        return None
    return 2.0 * len(x & y) / (len(x) + len(y))
