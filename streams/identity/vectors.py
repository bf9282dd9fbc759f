"""The scorer of compare.py over many pairs at once, with numpy: the batch resolver and training.

`Columns` holds N profiles as arrays (blind indexes as integer codes, keyed gram and word sets as
rows of 64-bit hashes); `VectorScorer.gammas(I, J)` gives each comparison's level for the pairs
(I[k], J[k]) and `scores(I, J)` their scores — bit-identical to `Scorer.score` on the same pairs:
every measure is an exact ratio of counts computed with the same float operations, and the weights
are added in comparison order. The gram intersections are counted on per-batch bitsets when the
distinct grams are few (Latin text), else on the sorted ids of both sides of each pair. A level's
later conditions are measured only on the pairs that meet its earlier ones (address_within on the
pairs whose addresses are already close).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streams.identity.compare import HARD_CONFLICT, MISSING, tf_value
from streams.identity.config import Comparison, MatchConfig
from streams.identity.profile import GRAM_BYTES, Profile, hashes_of

_CODED = ("id_number", "phone", "agency_person_id", "name_dob")
_SETS = ("name", "name_pinyin", "address", "name_words", "address_words")
_CHUNK_CELLS = 1_000_000   # ids of one temporary array (the sorted rows of both sides)
_BITS_CHUNK_CELLS = 262_144  # words of one temporary bitset array: small enough to stay in the cache

Cache = dict[str, tuple[np.ndarray, np.ndarray]]  # the measures of one set of pairs, by name


def _codes(values: Sequence[str | None], table: dict[str, int]) -> np.ndarray:
    return np.fromiter(((-1 if v is None else table.setdefault(v, len(table))) for v in values),
                       dtype=np.int64, count=len(values))


class GramSets:
    """One gram field of N profiles: dense gram ids per row, as bitsets (few distinct grams) or padded
    rows (many)."""

    def __init__(self, blobs: Sequence[bytes | None], dedupe: bool = False) -> None:
        if dedupe:  # word sequences: a set of words
            blobs = [b"".join(sorted(set(hashes_of(b)))) if b else None for b in blobs]
        n = len(blobs)
        self.lengths = np.fromiter((len(b) // GRAM_BYTES if b else 0 for b in blobs), dtype=np.int64, count=n)
        flat = np.frombuffer(b"".join(b for b in blobs if b), dtype=np.uint64)  # native order: only equality counts
        _, ids = np.unique(flat, return_inverse=True)
        distinct = int(ids.max()) + 1 if len(ids) else 0
        owner = np.repeat(np.arange(n), self.lengths)
        self.words = (distinct + 63) // 64
        self.bits: np.ndarray | None = None
        self.padded: tuple[np.ndarray, np.ndarray] | None = None
        if self.words <= 64:
            self.bits = np.zeros((n, max(self.words, 1)), dtype=np.uint64)
            np.bitwise_or.at(self.bits, (owner, ids >> 6), np.left_shift(np.uint64(1), (ids & 63).astype(np.uint64)))
        else:
            # the ids of each row, padded: the first side of a pair with -1 - column, the second with
            # -1 - width - column, so that in a row of both sides only a shared id meets its equal
            width = max(int(self.lengths.max()) if n else 0, 1)
            column = np.arange(width, dtype=np.int32)
            first = np.broadcast_to(-1 - column, (n, width)).copy()
            starts = np.cumsum(self.lengths) - self.lengths
            first[owner, np.arange(len(flat)) - starts[owner]] = ids
            self.padded = first, np.where(first < 0, first - width, first).astype(np.int32)

    def intersections(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """How many grams each pair (i[k], j[k]) shares: the ones of the AND of two bitsets, or the equal
        neighbours in the sorted row of both sides' ids (the ids of one side are distinct)."""
        out = np.zeros(len(i), dtype=np.int64)
        if self.bits is not None:
            bits = self.bits
            step = max(1, _BITS_CHUNK_CELLS // bits.shape[1])
            for s in range(0, len(i), step):
                both = bits.take(i[s:s + step], axis=0)
                both &= bits.take(j[s:s + step], axis=0)
                out[s:s + step] = np.add.reduce(np.bitwise_count(both), axis=1, dtype=np.uint16)  # <= 4,096
            return out
        assert self.padded is not None
        first, second = self.padded
        step = max(1, _CHUNK_CELLS // (2 * first.shape[1]))
        for s in range(0, len(i), step):
            row = np.concatenate((first.take(i[s:s + step], axis=0), second.take(j[s:s + step], axis=0)), axis=1)
            row.sort(axis=1)
            out[s:s + step] = np.count_nonzero(row[:, 1:] == row[:, :-1], axis=1)
        return out

    def dice(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Dice coefficient, missing) of the pairs."""
        la, lb = self.lengths[i], self.lengths[j]
        missing = (la == 0) | (lb == 0)
        inter = self.intersections(i, j)
        total = np.where(missing, 1, la + lb)
        return 2.0 * inter / total, missing


class Columns:
    """N profiles as arrays."""

    def __init__(self, profiles: Sequence[Profile]) -> None:
        self.n = len(profiles)
        self.codes = {name: _codes([getattr(p, name) for p in profiles], {}) for name in _CODED}
        dates: dict[str, int] = {}
        self.dob = _codes([p.dob for p in profiles], dates)
        self.dob_transposed = _codes([p.dob_transposed for p in profiles], dates)
        self.codes["dob"] = self.dob
        self.codes["gender"] = np.fromiter((p.gender or -1 for p in profiles), dtype=np.int64, count=self.n)
        self.id_valid = np.fromiter((p.id_valid for p in profiles), dtype=bool, count=self.n)
        self.agency = np.fromiter((p.agency for p in profiles), dtype=np.int64, count=self.n)
        parts: dict[bytes, int] = {}
        self.dob_parts = np.full((self.n, 3), -1, dtype=np.int64)
        for row, p in enumerate(profiles):
            if p.dob_parts:
                for k, h in enumerate(hashes_of(p.dob_parts)[:3]):
                    self.dob_parts[row, k] = parts.setdefault(h, len(parts))
        self._profiles = profiles
        self._sets: dict[str, GramSets] = {}

    def sets(self, name: str) -> GramSets:
        found = self._sets.get(name)
        if found is None:
            found = self._sets[name] = GramSets([getattr(p, name) for p in self._profiles], name == "name_words")
        return found

    def measure(self, name: str, i: np.ndarray, j: np.ndarray,
                cache: Cache | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(value, missing) of a compare.py measure for the pairs; `cache` keeps the measures of these
        pairs computed so far (several comparisons and levels read the same)."""
        if cache is None:
            cache = {}
        found = cache.get(name)
        if found is None:
            found = cache[name] = self._measure(name, i, j, cache)
        return found

    def holds(self, conditions: Sequence[tuple[str, float]], i: np.ndarray, j: np.ndarray, cache: Cache) -> np.ndarray:
        """Which pairs meet every (measure, minimum) of a level (a side missing meets none). The first
        measure is taken on every pair (and cached); each later one only on the pairs still in, unless it
        is cached already."""
        holds = np.ones(len(i), dtype=bool)
        for k, (name, minimum) in enumerate(conditions):
            if k == 0 or name in cache:
                value, missing = self.measure(name, i, j, cache)
                holds &= ~missing & (value >= minimum)
                continue
            still = np.flatnonzero(holds)
            value, missing = self._measure(name, i[still], j[still], {})
            holds[still] = ~missing & (value >= minimum)
        return holds

    def _measure(self, name: str, i: np.ndarray, j: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray]:
        if name == "name_pinyin":  # compare.py: the name's grams when a side has no pinyin grams
            pinyin, pinyin_missing = self.sets(name).dice(i, j)
            letters, letters_missing = self.measure("name", i, j, cache)
            return np.where(pinyin_missing, letters, pinyin), np.where(pinyin_missing, letters_missing, False)
        if name in _SETS:
            return self.sets(name).dice(i, j)
        if name == "address_within":
            words = self.sets("address_words")
            la, lb = words.lengths[i], words.lengths[j]
            missing = (la == 0) | (lb == 0)
            return words.intersections(i, j) / np.where(missing, 1, np.minimum(la, lb)), missing
        if name == "id_near":
            near = self.sets("id_variants")
            return (near.intersections(i, j) > 0).astype(np.float64), (near.lengths[i] == 0) | (near.lengths[j] == 0)
        di, dj = self.dob[i], self.dob[j]
        missing = (di < 0) | (dj < 0)
        if name == "dob":
            return (di == dj).astype(np.float64), missing
        if name == "dob_transposed":
            ti, tj = self.dob_transposed[i], self.dob_transposed[j]
            return (((ti >= 0) & (ti == dj)) | ((tj >= 0) & (tj == di))).astype(np.float64), missing
        if name == "dob_parts":
            pi, pj = self.dob_parts[i], self.dob_parts[j]
            missing = missing | (pi[:, 0] < 0) | (pj[:, 0] < 0)
            return ((pi == pj) & (pi >= 0)).any(axis=1).astype(np.float64), missing
        raise KeyError(name)


def _exact_gamma(comparison: Comparison, columns: Columns, i: np.ndarray, j: np.ndarray, cache: Cache) -> np.ndarray:
    codes = columns.codes[comparison.field]
    x, y = codes[i], codes[j]
    g = np.full(len(i), len(comparison.levels), dtype=np.int8)
    for index in range(len(comparison.levels) - 1, 0, -1):
        g[columns.holds(comparison.levels[index].conditions, i, j, cache)] = index
    if comparison.same_agency_only:
        g[columns.agency[i] != columns.agency[j]] = MISSING
    if comparison.hard_conflict:
        g[(x != y) & columns.id_valid[i] & columns.id_valid[j]] = HARD_CONFLICT
    g[x == y] = 0
    g[(x < 0) | (y < 0)] = MISSING
    return g


def _similarity_gamma(comparison: Comparison, columns: Columns, i: np.ndarray, j: np.ndarray,
                      cache: Cache) -> np.ndarray:
    g = np.full(len(i), len(comparison.levels), dtype=np.int8)
    for index in range(len(comparison.levels) - 1, -1, -1):
        g[columns.holds(comparison.levels[index].conditions, i, j, cache)] = index
    g[columns.measure(comparison.levels[0].conditions[0][0], i, j, cache)[1]] = MISSING
    return g


class VectorScorer:
    def __init__(self, config: MatchConfig, columns: Columns, profiles: Sequence[Profile]) -> None:
        self.config = config
        self.columns = columns
        self.weights = [np.array([level.weight for level in c.all_levels], dtype=np.float64)
                        for c in config.comparisons]
        self.tf_weight: list[np.ndarray | None] = []
        for c in config.comparisons:
            if not c.tf_adjust or not config.term_frequencies.get(c.attribute):
                self.tf_weight.append(None)
                continue
            table = config.term_frequencies[c.attribute]
            top = c.levels[0]
            per_value = {v: float(np.log2(top.m / max(f, top.u))) for v, f in table.items()}
            self.tf_weight.append(np.array(
                [per_value.get(tf_value(p.name), np.nan) if p.name else np.nan for p in profiles], dtype=np.float64))

    def gammas(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """(pairs, comparisons) int8: the level of each comparison, MISSING, or HARD_CONFLICT."""
        out = np.empty((len(i), len(self.config.comparisons)), dtype=np.int8)
        cache: Cache = {}
        for k, c in enumerate(self.config.comparisons):
            fn = _exact_gamma if c.kind == "exact" else _similarity_gamma
            out[:, k] = fn(c, self.columns, i, j, cache)
        return out

    def scores(self, i: np.ndarray, j: np.ndarray, gammas: np.ndarray | None = None) -> np.ndarray:
        g = self.gammas(i, j) if gammas is None else gammas
        total = np.zeros(len(i), dtype=np.float64)
        for k, weights in enumerate(self.weights):
            gk = g[:, k].astype(np.int64)
            w = np.where(gk >= 0, weights[np.maximum(gk, 0)], 0.0)
            tf = self.tf_weight[k]
            if tf is not None:
                own = tf[i]
                w = np.where((gk == 0) & ~np.isnan(own), own, w)
            w = np.where(gk == HARD_CONFLICT, -np.inf, w)
            total += w
        return total
