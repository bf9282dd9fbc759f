"""Scoring a pair of profiles: the sum over comparisons of the weight of the level each falls in.

`Scorer.score` is the hot path (a float; -inf for a hard conflict: two different valid ID numbers).
`Scorer.explain` gives the same score with attribute-by-attribute evidence (AttributeEvidence dicts).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from streams.identity.config import Comparison, MatchConfig
from streams.identity.profile import Profile

CONFLICT = -math.inf
_INDEX = {name: i for i, name in enumerate(Profile._fields)}


def dice(x: int | None, y: int | None) -> float | None:
    """Dice coefficient of two Bloom filters held as ints; None when either is missing."""
    if not x or not y:
        return None
    return 2.0 * (x & y).bit_count() / (x.bit_count() + y.bit_count())


@dataclass(frozen=True, slots=True)
class Explanation:
    score: float
    conflict: bool
    evidence: list[dict[str, Any]]


WeightFn = Callable[[Profile, Profile, "float | None"], float]


def _exact_fn(comparison: Comparison) -> WeightFn:
    idx = _INDEX[comparison.field]
    agree = comparison.levels[0].weight
    other = comparison.otherwise.weight
    hard, same_agency = comparison.hard_conflict, comparison.same_agency_only

    def weight(a: Profile, b: Profile, _: float | None = None) -> float:
        x, y = a[idx], b[idx]
        if not x or not y:
            return 0.0
        if x == y:
            return agree
        if hard and a.id_valid and b.id_valid:
            return CONFLICT
        if same_agency and a.agency != b.agency:
            return 0.0
        return other

    return weight


def _clk_fn(comparison: Comparison) -> WeightFn:
    primary = _INDEX[comparison.levels[0].conditions[0][0]]
    levels = [(tuple((_INDEX[n], t) for n, t in lv.conditions), lv.weight) for lv in comparison.levels]
    other = comparison.otherwise.weight

    def weight(a: Sequence[Any], b: Sequence[Any], top_weight: float | None = None) -> float:  # profiles by position
        if not a[primary] or not b[primary]:
            return 0.0
        sims: dict[int, float | None] = {}
        for i, (conditions, level_weight) in enumerate(levels):
            for idx, minimum in conditions:
                sim = sims[idx] if idx in sims else sims.setdefault(idx, dice(a[idx], b[idx]))
                if sim is None or sim < minimum:
                    break
            else:
                return top_weight if i == 0 and top_weight is not None else level_weight
        return other

    return weight


class Scorer:
    """`tf_weight`: the weight of full agreement on the term-frequency adjusted comparison (the name)
    for this pair, in place of the configured one (see IdentityProcessor.name_weight)."""

    def __init__(self, config: MatchConfig) -> None:
        self.config = config
        self._fns = [(_exact_fn(c) if c.kind == "exact" else _clk_fn(c)) for c in config.comparisons]
        self._tf = [c.tf_adjust for c in config.comparisons]
        self._self_cache: dict[tuple[Any, ...], tuple[float, list[dict[str, Any]]]] = {}
        # per comparison: the similarity inputs it shows, as (name, profile index), primary first
        self._shown = [tuple((n, _INDEX[n]) for n in dict.fromkeys(n for lv in c.levels for n, _ in lv.conditions))
                       for c in config.comparisons]

    def score(self, a: Profile, b: Profile, tf_weight: float | None = None) -> float:
        total = 0.0
        for fn, tf in zip(self._fns, self._tf, strict=True):
            total += fn(a, b, tf_weight if tf else None)
        return total

    def explain(self, a: Profile, b: Profile, tf_weight: float | None = None) -> Explanation:
        evidence: list[dict[str, Any]] = []
        total = 0.0
        for comparison, fn, tf, shown in zip(self.config.comparisons, self._fns, self._tf, self._shown, strict=True):
            w = fn(a, b, tf_weight if tf else None)
            total += w
            _evidence(evidence, comparison, shown, a, b, w, tf_weight if tf else None)
        return Explanation(total, total == CONFLICT, evidence)

    def self_evidence(self, a: Profile, tf_weight: float | None = None) -> tuple[float, list[dict[str, Any]]]:
        """explain(a, a), cached by which attributes are present (the only thing it depends on)."""
        key = (tuple(x is not None and x != 0 for x in a), a.id_valid, tf_weight)
        cached = self._self_cache.get(key)
        if cached is None:
            explanation = self.explain(a, a, tf_weight)
            if len(self._self_cache) > 4096:
                self._self_cache.clear()
            cached = self._self_cache[key] = (explanation.score, explanation.evidence)
        return cached[0], [dict(e) for e in cached[1]]


def _outcome(comparison: Comparison, w: float, top_weight: float | None) -> str:
    if top_weight is not None and w == top_weight:
        return comparison.levels[0].outcome
    for level in comparison.levels:
        if level.weight == w:
            return level.outcome
    return "disagree"


def _evidence(out: list[dict[str, Any]], comparison: Comparison, shown: tuple[tuple[str, int], ...],
              a: Sequence[Any], b: Sequence[Any], w: float, top_weight: float | None) -> None:  # profiles by position
    if comparison.kind == "exact":
        idx = _INDEX[comparison.field]
        x, y = a[idx], b[idx]
        if not x or not y or (w == 0.0 and comparison.same_agency_only and x != y):
            outcome = "missing"
        else:
            outcome = "agree" if x == y else "disagree"
        weight = comparison.otherwise.weight if w == CONFLICT else w
        out.append({"attribute": comparison.attribute, "outcome": outcome, "weight": weight, "similarity": None})
        return
    for i, (name, idx) in enumerate(shown):
        sim = dice(a[idx], b[idx])
        if i == 0:
            outcome = "missing" if sim is None else _outcome(comparison, w, top_weight)
            out.append({"attribute": name, "outcome": outcome, "weight": w, "similarity": sim})
        else:  # a secondary similarity of the same comparison: shown, its weight is in the first entry
            outcome = "missing" if sim is None else "agree" if sim >= 0.98 else "partial" if sim >= 0.6 else "disagree"
            out.append({"attribute": name, "outcome": outcome, "weight": 0.0, "similarity": sim})
