"""Scoring a pair of profiles: the sum over comparisons of the weight of the level each falls in.

A comparison's **gamma** for a pair is the index of the first level whose conditions hold (its
`all_levels`, "else" last), MISSING when a side lacks the attribute, CONFLICT for two different
valid ID numbers. `Scorer.score` is the hot path (a float; -inf for a hard conflict);
`Scorer.explain` gives the same score with comparison-by-comparison evidence. The vectorised
scorer (vectors.py) computes the same measures with numpy and must give bit-identical scores: both
add the weights in comparison order, and every measure is an exact ratio of counts.

Measures (all on keyed material; None when a side is missing):
- ``name``, ``name_pinyin``, ``address``: Dice coefficient of the keyed gram sets (a Latin name has no
  pinyin grams: its sound is its letters, so ``name_pinyin`` compares the ``name`` grams when a side lacks them);
- ``name_words``, ``address_words``: Dice coefficient of the sets of keyed words (a swapped name: 1.0);
- ``address_within``: the share of the shorter address's words found in the other (a shortened,
  reordered or extended address: 1.0), |A ∩ B| / min(|A|, |B|);
- ``dob``: 1.0 when the dates of birth agree, else 0.0;
- ``dob_transposed``: 1.0 when one date is the other with day and month exchanged;
- ``dob_parts``: 1.0 when year-month, year-day or month-day agree (the dates differ in one part);
- ``id_near``: 1.0 when the ID numbers are one typo apart (they share a keyed one-character deletion).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.identity.config import Comparison, MatchConfig
from streams.identity.profile import GRAM_BYTES, Profile, hashes_of

CONFLICT = -math.inf
MISSING = -1
HARD_CONFLICT = -2
_SET_FIELD = {"name": "name", "name_pinyin": "name_pinyin", "address": "address", "name_words": "name_words",
              "address_words": "address_words"}
_CACHE_LIMIT = 500_000


def tf_value(blob: bytes) -> str:
    """The key of a value in a term-frequency table: 16 hex of its keyed encoding's hash."""
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Explanation:
    score: float
    conflict: bool
    evidence: list[dict[str, Any]]
    gammas: tuple[int, ...] = ()


class _Sets:
    """blob -> frozenset of its 8-byte hashes, memoised (names and addresses repeat)."""

    def __init__(self) -> None:
        self._cache: dict[bytes, frozenset[bytes]] = {}

    def __call__(self, blob: bytes) -> frozenset[bytes]:
        found = self._cache.get(blob)
        if found is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[blob] = frozenset(hashes_of(blob))
        return found


class Measures:
    """The similarity measures of a pair (see the module doc)."""

    def __init__(self) -> None:
        self.sets = _Sets()

    def dice(self, x: bytes | None, y: bytes | None) -> float | None:
        if not x or not y:
            return None
        if x == y:
            return 1.0
        a, b = self.sets(x), self.sets(y)
        return 2.0 * len(a & b) / (len(a) + len(b))

    def within(self, x: bytes | None, y: bytes | None) -> float | None:
        if not x or not y:
            return None
        a, b = self.sets(x), self.sets(y)
        return len(a & b) / min(len(a), len(b))

    def measure(self, name: str, a: Profile, b: Profile) -> float | None:
        if name == "id_near":
            return self._near(a, b)
        if name == "address_within":
            return self.within(a.address_words, b.address_words)
        if name in _SET_FIELD:
            if name == "name_pinyin" and (not a.name_pinyin or not b.name_pinyin):
                name = "name"
            return self.dice(getattr(a, name), getattr(b, name))
        if not a.dob or not b.dob:
            return None
        if name == "dob":
            return 1.0 if a.dob == b.dob else 0.0
        if name == "dob_transposed":
            return 1.0 if (a.dob_transposed is not None and a.dob_transposed == b.dob) or \
                (b.dob_transposed is not None and b.dob_transposed == a.dob) else 0.0
        if name == "dob_parts":
            x, y = a.dob_parts, b.dob_parts
            if not x or not y:
                return None
            return 1.0 if any(x[i:i + GRAM_BYTES] == y[i:i + GRAM_BYTES] for i in range(0, len(x), GRAM_BYTES)) \
                else 0.0
        raise KeyError(name)


    def _near(self, a: Profile, b: Profile) -> float | None:
        if not a.id_variants or not b.id_variants:
            return None
        return 0.0 if self.sets(a.id_variants).isdisjoint(self.sets(b.id_variants)) else 1.0


GammaFn = Callable[[Profile, Profile], int]


def _exact_gamma(comparison: Comparison, measures: Measures) -> GammaFn:
    name = comparison.field
    hard, same_agency = comparison.hard_conflict, comparison.same_agency_only
    later = [lv.conditions for lv in comparison.levels[1:]]
    otherwise = len(comparison.levels)
    measure = measures.measure

    def gamma(a: Profile, b: Profile) -> int:
        x, y = getattr(a, name), getattr(b, name)
        if not x or not y:
            return MISSING
        if x == y:
            return 0
        if hard and a.id_valid and b.id_valid:
            return HARD_CONFLICT
        if same_agency and a.agency != b.agency:
            return MISSING
        for i, conditions in enumerate(later, start=1):
            for n, minimum in conditions:
                sim = measure(n, a, b)
                if sim is None or sim < minimum:
                    break
            else:
                return i
        return otherwise

    return gamma


def _similarity_gamma(comparison: Comparison, measures: Measures) -> GammaFn:
    primary = comparison.levels[0].conditions[0][0]
    levels = [lv.conditions for lv in comparison.levels]
    otherwise = len(levels)
    measure = measures.measure

    def gamma(a: Profile, b: Profile) -> int:
        sims = {primary: measure(primary, a, b)}
        if sims[primary] is None:
            return MISSING
        for i, conditions in enumerate(levels):
            for name, minimum in conditions:
                sim = sims[name] if name in sims else sims.setdefault(name, measure(name, a, b))
                if sim is None or sim < minimum:
                    break
            else:
                return i
        return otherwise

    return gamma


class Scorer:
    """Scores pairs with one model. Term-frequency adjusted comparisons weigh their first level by the
    frequency of the agreed value when the model's table has it (a frequent name says less)."""

    def __init__(self, config: MatchConfig) -> None:
        self.config = config
        self.measures = Measures()
        self.gammas = [(_exact_gamma(c, self.measures) if c.kind == "exact" else _similarity_gamma(c, self.measures))
                       for c in config.comparisons]
        self.weights = [tuple(level.weight for level in c.all_levels) for c in config.comparisons]
        self.tf_weights = [self._tf_weights(c) for c in config.comparisons]
        self._plan = list(zip(self.gammas, self.weights, self.tf_weights, strict=True))
        self._self_cache: dict[tuple[Any, ...], tuple[float, list[dict[str, Any]]]] = {}

    def _tf_weights(self, comparison: Comparison) -> dict[str, float] | None:
        if not comparison.tf_adjust:
            return None
        m = comparison.levels[0].m
        table = self.config.term_frequencies.get(comparison.attribute, {})
        return {value: math.log2(m / max(freq, comparison.levels[0].u)) for value, freq in table.items()}

    def level_weight(self, index: int, gamma: int, a: Profile) -> float:
        """The weight of comparison `index` at level `gamma` (its value's frequency for level 0 of a
        term-frequency adjusted comparison)."""
        if gamma == MISSING:
            return 0.0
        if gamma == HARD_CONFLICT:
            return CONFLICT
        tf = self.tf_weights[index]
        if gamma == 0 and tf:
            found = tf.get(tf_value(a.name))  # type: ignore[arg-type]  # tf_adjust implies the name
            if found is not None:
                return found
        return self.weights[index][gamma]

    def score(self, a: Profile, b: Profile) -> float:
        total = 0.0
        for gamma_fn, weights, tf in self._plan:
            g = gamma_fn(a, b)
            if g < 0:
                if g == HARD_CONFLICT:
                    return CONFLICT
                continue
            if g == 0 and tf:
                found = tf.get(tf_value(a.name))  # type: ignore[arg-type]
                total += weights[0] if found is None else found
            else:
                total += weights[g]
        return total

    def gamma(self, a: Profile, b: Profile) -> tuple[int, ...]:
        return tuple(fn(a, b) for fn in self.gammas)

    def explain(self, a: Profile, b: Profile) -> Explanation:
        evidence: list[dict[str, Any]] = []
        total = 0.0
        gammas = self.gamma(a, b)
        for index, (comparison, g) in enumerate(zip(self.config.comparisons, gammas, strict=True)):
            w = self.level_weight(index, g, a)
            total += w
            evidence.extend(_evidence(comparison, g, w, self.measures, a, b))
        return Explanation(total, total == CONFLICT, evidence, gammas)

    def self_evidence(self, a: Profile) -> tuple[float, list[dict[str, Any]]]:
        """explain(a, a), cached by what it depends on: which attributes are present (and the name's
        frequency, when the model has a table)."""
        tf = tf_value(a.name) if a.name and any(self.tf_weights) else None
        key = (tuple(v is not None and v != 0 for v in a), a.id_valid, tf)
        cached = self._self_cache.get(key)
        if cached is None:
            explanation = self.explain(a, a)
            if len(self._self_cache) > 4096:
                self._self_cache.clear()
            cached = self._self_cache[key] = (explanation.score, explanation.evidence)
        return cached[0], [dict(e) for e in cached[1]]


def _evidence(comparison: Comparison, g: int, w: float, measures: Measures, a: Profile,
              b: Profile) -> list[dict[str, Any]]:
    """The comparison's entry (its weight), then the other similarities its levels look at (weight 0)."""
    if g == MISSING:
        outcome = "missing"
    elif g == HARD_CONFLICT:
        outcome, w = "disagree", comparison.otherwise.weight
    else:
        outcome = comparison.all_levels[g].outcome
    if comparison.kind != "similarity":
        similarity = None if g < 0 else 1.0 if g == 0 else 0.0
        return [{"attribute": comparison.attribute, "outcome": outcome, "weight": w, "similarity": similarity}]
    shown = list(dict.fromkeys(n for level in comparison.levels for n, _ in level.conditions))
    primary = measures.measure(shown[0], a, b)
    out = [{"attribute": comparison.attribute, "outcome": outcome, "weight": w, "similarity": primary}]
    for name in shown[1:]:
        if name not in _SET_FIELD and name != "address_within":
            continue
        sim = measures.measure(name, a, b)
        secondary = "missing" if sim is None else "agree" if sim == 1.0 else "partial" if sim >= 0.6 else "disagree"
        out.append({"attribute": name, "outcome": secondary, "weight": 0.0, "similarity": sim})
    return out
