"""Estimating the model from the data, without labels (Fellegi–Sunter with expectation–maximisation).

On the distinct profiles of an input (or of the resolver's state):
1. **u** (P(level | different persons)): the levels of pairs drawn at random — a fixed seed over the
   profiles ordered by their smallest record key, so the draw is the same whatever the input order and
   the matching key. Random pairs hold a few true matches; each EM step takes their share out
   (u = (r - λ·m) / (1 - λ), with λ the chance that two random profiles are one person), which keeps
   a dense data set (FEBRL: 2,000 persons in 5,000 records) from mistaking its own duplicates for chance.
2. **m** (P(level | same person)) and the share of matches among the candidate pairs (the pairs the
   model's rules select, as the resolver scores them): EM over those pairs' level patterns.
3. **Thresholds**: link when P(same person | evidence) reaches `match_probability`:
   score >= log2((1 - λ) / λ) + log2(p / (1 - p)); possible matches `possible_band` bits below.
4. **Term frequencies** (for comparisons with tf_adjust): each name held by at least `tf_min_count`
   profiles gets its frequency, so agreeing on a common name weighs less. A table of the data, frozen
   in the model: decisions stay a function of the records and the model.

Everything is a function of the set of profiles: the same input gives the same model whatever its
order and whatever the matching key (the table's keys are keyed hashes, its values the same).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from streams.identity.compare import HARD_CONFLICT, MISSING, tf_value
from streams.identity.config import Comparison, Level, MatchConfig
from streams.identity.profile import Profile
from streams.identity.vectors import Columns, VectorScorer

if TYPE_CHECKING:
    from streams.identity.batch import Batch

SEED = 20_240_601
_MIN_P = 1e-9
_TOLERANCE = 1e-7


@dataclass(frozen=True, slots=True)
class TrainingReport:
    profiles: int
    candidate_pairs: int
    random_pairs: int
    iterations: int
    converged: bool
    expected_matches: float
    match_share: float   # λ: the chance that two random profiles are one person

    def as_provenance(self) -> dict[str, Any]:
        return {"profiles": self.profiles, "candidate_pairs": self.candidate_pairs,
                "random_pairs": self.random_pairs, "em_iterations": self.iterations, "converged": self.converged,
                "expected_matches": round(float(self.expected_matches), 1), "match_share": float(f"{self.match_share:.6g}")}


def random_pairs(order: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` distinct-profile pairs drawn with a fixed seed over `order` (profile indices sorted by
    smallest record key); every pair when there are fewer."""
    n = len(order)
    total = n * (n - 1) // 2
    if total <= count:
        i, j = np.triu_indices(n, k=1)
        return order[i], order[j]
    rng = np.random.default_rng(SEED)
    a = rng.integers(0, n, size=count)
    b = rng.integers(0, n - 1, size=count)
    b = np.where(b >= a, b + 1, b)
    return order[a], order[b]


def _level_counts(g: np.ndarray, levels: int, weights: np.ndarray | None = None) -> np.ndarray:
    g = np.where(g == HARD_CONFLICT, levels - 1, g).astype(np.int64)
    keep = g != MISSING
    return np.bincount(g[keep], weights=None if weights is None else weights[keep], minlength=levels)


def _initial_m(levels: int) -> np.ndarray:
    m = np.array([0.6 * 0.5 ** k for k in range(levels - 1)] + [0.05])
    return m / m.sum()


# Which comparisons a candidate key biases: among the pairs a rule selects, a comparison that looks at
# the rule's own attribute agrees far more often than chance, so it tells nothing about m there.
_FAMILY = {"name_key": "name", "name_word": "name", "name_words": "name", "dob": "dob", "dob_part": "dob",
           "id_number": "id_number", "phone": "phone", "agency_person_id": "agency_person_id",
           "locality": "address", "address_word": "address", "id_variant": "id_number"}
_MEASURE_FAMILY = {"name": "name", "name_pinyin": "name", "name_words": "name", "dob": "dob",
                   "dob_transposed": "dob", "dob_parts": "dob", "address": "address", "address_words": "address",
                   "address_within": "address",
                   "name_dob": "name+dob", "id_near": "id_number"}


def _families(comparison: Comparison) -> set[str]:
    found = {_MEASURE_FAMILY[n] for level in comparison.levels for n, _ in level.conditions}
    if comparison.kind == "exact":
        found.update(_MEASURE_FAMILY.get(comparison.field, comparison.field).split("+"))
    return found


class _Patterns:
    """The distinct level patterns of some pairs, with counts (EM works on these, not on pairs)."""

    def __init__(self, gammas: np.ndarray, sizes: list[int]) -> None:
        patterns, counts = _unique_rows(gammas)
        self.patterns = np.where(patterns == HARD_CONFLICT, np.array(sizes) - 1, patterns).astype(np.int64)
        self.counts = counts.astype(np.float64)
        self.sizes = sizes

    def posterior(self, lam: float, m: list[np.ndarray], u: list[np.ndarray], active: list[int]) -> np.ndarray:
        log_ratio = np.full(len(self.patterns), math.log(lam) - math.log(1 - lam))
        for k in active:
            gk = self.patterns[:, k]
            present = gk != MISSING
            index = np.maximum(gk, 0)
            log_ratio += np.where(present, np.log(m[k][index]) - np.log(u[k][index]), 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(log_ratio, -700, 700)))

    def level_weights(self, k: int, weights: np.ndarray) -> np.ndarray:
        gk = self.patterns[:, k]
        keep = gk != MISSING
        return np.bincount(gk[keep], weights=weights[keep], minlength=self.sizes[k])


def _unique_rows(gammas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a level matrix and their counts (as np.unique(axis=0), sorted the same
    way): each row read as one number, its levels (HARD_CONFLICT and up, at most 13) as digits."""
    if not len(gammas):
        return gammas, np.zeros(0, dtype=np.int64)
    base = 16
    if gammas.shape[1] > 15 or int(gammas.max()) - HARD_CONFLICT >= base:
        return np.unique(gammas, axis=0, return_counts=True)
    digits = gammas.astype(np.int64) - HARD_CONFLICT
    weights = base ** np.arange(gammas.shape[1] - 1, -1, -1, dtype=np.int64)
    codes, counts = np.unique(digits @ weights, return_counts=True)
    rows = (codes[:, None] // weights[None, :]) % base + HARD_CONFLICT
    return rows.astype(gammas.dtype), counts


def _em(patterns: _Patterns, m: list[np.ndarray], u: list[np.ndarray], active: list[int], lam: float,
        iterations: int, learn_m: bool) -> tuple[list[np.ndarray], float, int, bool]:
    """EM over the patterns with u fixed: (m, match share, iterations, converged). Only the active
    comparisons take part; with learn_m False only the match share moves."""
    m = [x.copy() for x in m]
    total = max(float(patterns.counts.sum()), 1.0)
    for step in range(1, iterations + 1):
        weighted = patterns.posterior(lam, m, u, active) * patterns.counts
        new_lam = min(max(float(weighted.sum()) / total, 1e-9), 1 - 1e-9)
        change = abs(new_lam - lam)
        lam = new_lam
        if learn_m:
            for k in active:
                num = patterns.level_weights(k, weighted)
                new_m = (num + 1e-3) / (num.sum() + 1e-3 * len(num))
                change = max(change, float(np.abs(new_m - m[k]).max()))
                m[k] = new_m
        if change < _TOLERANCE:
            return m, lam, step, True
    return m, lam, iterations, False


def estimate(config: MatchConfig, batch: Batch, columns: Columns | None = None) -> tuple[MatchConfig, TrainingReport]:
    """The model with m, u, thresholds and term frequencies estimated from a batch (its distinct
    profiles and candidate pairs). m is estimated rule by rule, as Splink does: on the pairs a rule
    selects, the comparisons of the rule's own attributes are left out (they agree there by
    construction), and each comparison's m is the average over the rules that leave it in, weighted by
    their expected matches. Comparisons without any observation keep the configured m and u."""
    profiles = batch.profiles
    columns = columns or Columns(profiles)
    scorer = VectorScorer(config, columns, profiles)
    n = len(profiles)
    cand_i, cand_j = batch.pairs
    order = np.array(sorted(range(n), key=batch.min_keys.__getitem__), dtype=np.int64)
    rand_i, rand_j = random_pairs(order, config.training.random_pairs)
    g_rand = scorer.gammas(rand_i, rand_j)
    g_cand = scorer.gammas(cand_i, cand_j)
    sizes = [len(c.all_levels) for c in config.comparisons]
    observed = [bool(_level_counts(g_cand[:, k], size).sum()) for k, size in enumerate(sizes)]
    random_share = []  # r: level shares among random pairs (smoothed)
    for k, size in enumerate(sizes):
        c = _level_counts(g_rand[:, k], size)
        random_share.append((c + 0.5) / (c.sum() + 0.5 * size))
    everything = _Patterns(g_cand, sizes)
    sessions = []
    for rule, mask in zip(config.rules, batch.rule_masks, strict=True):
        biased = {_FAMILY[part] for part in rule}
        active = [k for k, c in enumerate(config.comparisons) if observed[k] and not (_families(c) & biased)]
        if active and int(mask.sum()):
            sessions.append((_Patterns(g_cand[mask], sizes), active))
    m = [_initial_m(size) for size in sizes]
    u = [r.copy() for r in random_share]
    all_pairs = max(n * (n - 1) / 2, 1.0)
    lam_all, lam_c, iterations, converged = 1e-6, 0.1, 0, True
    for _ in range(3):  # m given u, then u given m and the match share
        total = [np.zeros(size) for size in sizes]
        weight = np.zeros(len(sizes))
        for patterns, active in sessions:
            m_rule, lam_rule, steps, done = _em(patterns, m, u, active, 0.1, config.training.max_iterations, True)
            iterations, converged = iterations + steps, converged and done
            expected = lam_rule * float(patterns.counts.sum())
            for k in active:
                total[k] += m_rule[k] * expected
                weight[k] += expected
        m = [total[k] / weight[k] if weight[k] > 0 else m[k] for k in range(len(sizes))]
        active_all = [k for k in range(len(sizes)) if observed[k]]
        _, lam_c, steps, done = _em(everything, m, u, active_all, lam_c, config.training.max_iterations, False)
        iterations, converged = iterations + steps, converged and done
        lam_all = min(max(lam_c * float(everything.counts.sum()) / all_pairs, 1e-15), 0.5)
        u = [np.maximum(r - lam_all * m[k], r * 0.01) / (1 - lam_all) for k, r in enumerate(random_share)]
        u = [x / x.sum() for x in u]
    expected = lam_c * float(everything.counts.sum())
    comparisons = tuple(_trained(c, m[k], u[k], observed[k]) for k, c in enumerate(config.comparisons))
    p = config.training.match_probability
    match = round(math.log2((1 - lam_all) / lam_all) + math.log2(p / (1 - p)), 2)
    report = TrainingReport(n, len(cand_i), len(rand_i), iterations, converged, expected, lam_all)
    trained = replace(config, comparisons=comparisons, match_threshold=match,
                      possible_threshold=round(match - config.training.possible_band, 2),
                      term_frequencies=term_frequencies(config, profiles), provenance=report.as_provenance())
    return trained, report


def _trained(comparison: Comparison, m: np.ndarray, u: np.ndarray, observed: bool) -> Comparison:
    if not observed:
        return comparison
    levels = [Level(lv.outcome, _p(m[k]), _p(u[k]), lv.conditions) for k, lv in enumerate(comparison.all_levels)]
    return replace(comparison, levels=tuple(levels[:-1]), otherwise=levels[-1])


def _p(value: float) -> float:
    return float(f"{min(max(float(value), _MIN_P), 1.0):.6g}")


def term_frequencies(config: MatchConfig, profiles: list[Profile]) -> dict[str, dict[str, float]]:
    """attribute -> {value key: share of the profiles holding it}, for values held by enough profiles."""
    out: dict[str, dict[str, float]] = {}
    for comparison in config.comparisons:
        if not comparison.tf_adjust:
            continue
        counts = Counter(tf_value(p.name) for p in profiles if p.name)
        total = sum(counts.values())
        table = {value: float(f"{count / total:.6g}") for value, count in sorted(counts.items())
                 if count >= config.training.tf_min_count}
        out[comparison.attribute] = table
    return out
