"""Keyed Bloom-filter linkage encodings (cryptographic long-term keys, CLKs) for fuzzy matching.

A value is cut into padded character bigrams (``张伟`` -> ``_张 张伟 伟_``); each bigram sets ``k`` bits
of an ``L``-bit filter, at positions taken from HMAC-SHA256 of the bigram under a per-kind sub-key of
the matching key ("random hashing": the 32-byte MAC gives 16 independent 16-bit positions, reduced
mod L, unbiased since L divides 65536). Without the key the filters cannot be rebuilt from a
dictionary of names. Two filters are compared by their Dice coefficient, which approximates the Dice
similarity of the two bigram sets.

Kinds: ``name`` (character bigrams of the normalised name), ``pinyin`` (letter bigrams of the toneless
pinyin with syllable boundaries, plus syllable bigrams, so homophones such as 张伟 / 章伟 stay close;
Latin letters pass through unchanged),
``address`` (characters of the normalised address). Parameters and measured similarities:
consent/privacy/PRIVACY.md.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, hmac

from consent.privacy import normalize
from consent.privacy.blind_index import derive_subkey

FILTER_BITS = 1024
FILTER_BYTES = FILTER_BITS // 8
HASHES_PER_NGRAM = 10
PAD = "_"
_MAX_CACHED_NGRAMS = 200_000


def dice(a: bytes, b: bytes) -> float:
    """Dice coefficient 2|A∩B| / (|A|+|B|) of two equal-length bit filters; 0.0 when both are empty."""
    if len(a) != len(b):
        raise ValueError(f"filters differ in length: {len(a)} and {len(b)} bytes")
    x = int.from_bytes(a, "big")
    y = int.from_bytes(b, "big")
    total = x.bit_count() + y.bit_count()
    return 2.0 * (x & y).bit_count() / total if total else 0.0


def bigrams(text: str) -> set[str]:
    """Padded character bigrams: ``ab`` -> {``_a``, ``ab``, ``b_``}; empty text has none."""
    if not text:
        return set()
    padded = PAD + text + PAD
    return set(map(str.__add__, padded[:-1], padded[1:]))


def syllables(text: str) -> list[str]:
    """Toneless pinyin syllables of a text; Latin text passes through as one "syllable". pypinyin (and
    its 0.6 s of dictionaries) is imported only when a text is not ASCII."""
    if text.isascii():
        return [text] if text else []
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(text, style=Style.NORMAL, errors="default")


@lru_cache(maxsize=131072)
def pinyin_grams(normalized_name: str) -> frozenset[str]:
    """Features of a name's sound: letter bigrams of the toneless pinyin with ``_`` between syllables
    (``张伟`` -> ``_zhang_wei_``), which keep near-homophones (zhang / zang) close, plus syllable
    bigrams (``^|zhang``, ``zhang|wei``, ``wei|$``), which keep syllable order and repetition
    (张伟 / 张伟伟 differ). Latin letters pass through unchanged."""
    sounds = syllables(normalized_name)
    grams = bigrams(PAD.join(sounds))
    marked = ["^", *sounds, "$"]
    grams.update(f"{marked[i]}|{marked[i + 1]}" for i in range(len(marked) - 1))
    return frozenset(grams)


# Fuzzy-pinyin folding, as Chinese input methods do it for speakers who merge these sounds: retroflex
# initials with dental ones, -ng finals with -n. Near-homophones clerks type (玲/琳 ling/lin, 张/藏) then
# share a name key; applied after toneless pinyin, so 张伟, 章伟 and 張偉 already agree without it.
_FOLD_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))


def _fold(syllable: str) -> str:
    for retroflex, dental in _FOLD_INITIALS:
        if syllable.startswith(retroflex):
            syllable = dental + syllable[2:]
            break
    return syllable[:-1] if syllable.endswith("ng") else syllable


@lru_cache(maxsize=131072)
def name_key(normalized_name: str) -> str:
    """The sound of a name, for grouping: folded toneless pinyin syllables without separators or dots
    (``张伟`` / ``章伟`` / ``張偉`` -> ``zanwei``; ``阿依古丽·买买提`` -> ``ayiguliaimaiti``); Latin
    names keep their letters. Two records of one person whose names sound alike share it."""
    return "".join(_fold("".join(ch for ch in s if ch.isalnum())) for s in syllables(normalized_name.replace("·", "")))


class _BloomEncoder:
    """One kind of CLK: bigram -> bit mask (cached), value -> OR of its bigrams' masks."""

    def __init__(self, key: bytes, bits: int, hashes_per_ngram: int) -> None:
        if 65536 % bits or not 0 < hashes_per_ngram <= 16:
            raise ValueError("bits must divide 65536 and hashes_per_ngram be in 1..16")
        self._template = hmac.HMAC(key, hashes.SHA256())
        self._bits = bits
        self._k = hashes_per_ngram
        self._masks: dict[str, int] = {}

    def _mask(self, gram: str) -> int:
        mask = self._masks.get(gram)
        if mask is None:
            mac = self._template.copy()
            mac.update(gram.encode())
            digest = mac.finalize()
            mask = 0
            for i in range(self._k):
                mask |= 1 << (int.from_bytes(digest[2 * i : 2 * i + 2], "big") % self._bits)
            if len(self._masks) >= _MAX_CACHED_NGRAMS:
                self._masks.clear()
            self._masks[gram] = mask
        return mask

    def encode(self, grams: set[str] | frozenset[str]) -> bytes:
        mask = 0
        for gram in grams:
            mask |= self._mask(gram)
        return mask.to_bytes(self._bits // 8, "big")


class LinkageEncoder:
    """Builds the name, pinyin and address CLKs of raw values (normalising them first).

    Results are cached by normalised value: names repeat a lot, and pinyin conversion is the
    slowest step (~18 us for a 3-character name)."""

    def __init__(
        self,
        matching_key: bytes,
        bits: int = FILTER_BITS,
        hashes_per_ngram: int = HASHES_PER_NGRAM,
        cache_size: int = 131072,
    ) -> None:
        name = _BloomEncoder(derive_subkey(matching_key, "clk name"), bits, hashes_per_ngram)
        pinyin = _BloomEncoder(derive_subkey(matching_key, "clk pinyin"), bits, hashes_per_ngram)
        address = _BloomEncoder(derive_subkey(matching_key, "clk address"), bits, hashes_per_ngram)
        cache: Callable[[Callable[[str], bytes]], Callable[[str], bytes]] = lru_cache(maxsize=cache_size)
        self._name = cache(lambda norm: name.encode(bigrams(norm)))
        self._pinyin = cache(lambda norm: pinyin.encode(pinyin_grams(norm)))
        self._address = cache(lambda norm: address.encode(bigrams(norm)))

    def name(self, raw: str) -> bytes | None:
        norm = normalize.normalize_name(raw)
        return self._name(norm) if norm else None

    @staticmethod
    def name_key(raw: str) -> str | None:
        """The name's sound key (plaintext; the caller blind-indexes it)."""
        norm = normalize.normalize_name(raw)
        return name_key(norm) or None if norm else None

    def name_pinyin(self, raw: str) -> bytes | None:
        norm = normalize.normalize_name(raw)
        return self._pinyin(norm) if norm else None

    def address(self, raw: str) -> bytes | None:
        norm = normalize.normalize_address(raw)
        return self._address(norm) if norm else None
