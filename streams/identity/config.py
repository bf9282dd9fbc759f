"""The matching model as data: comparisons with levels and m/u probabilities, candidate rules,
thresholds, and what training learned (term frequencies, provenance).

`load_config()` reads streams/identity/config.toml (or another file: a trained model written by
`justlink identity train` / `justlink resolve` has the same shape) and checks it; errors name the file,
the comparison and the field. Weights are derived, never written: weight = log2(m / u).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).with_name("config.toml")
# What `justlink resolve` trains by default: config.toml's comparisons with wider candidate rules.
RESOLVE_CONFIG = Path(__file__).with_name("resolve.toml")

EXACT_FIELDS = ("id_number", "phone", "agency_person_id", "name_dob", "dob", "gender")
# Similarity measures a level may require (a minimum in 0..1), see compare.py for their definitions.
MEASURES = ("name", "name_pinyin", "address", "name_words", "address_words", "address_within", "dob",
            "dob_transposed", "dob_parts", "id_number", "id_near")
# Candidate keys a rule may combine (equality of keyed hashes; several values -> several keys).
KEY_PARTS = ("name_key", "dob", "id_number", "phone", "agency_person_id", "name_word", "name_words",
             "locality", "dob_part", "address_word", "id_variant")
OUTCOMES = ("agree", "partial", "disagree")


class ConfigError(ValueError):
    """The matching configuration is invalid; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Level:
    outcome: str
    m: float
    u: float
    conditions: tuple[tuple[str, float], ...] = ()  # (measure, minimum), all must hold

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


@dataclass(frozen=True, slots=True)
class Comparison:
    attribute: str
    kind: str  # "exact" | "similarity"
    levels: tuple[Level, ...]
    otherwise: Level
    field: str = ""  # exact comparisons: which profile field
    hard_conflict: bool = False
    same_agency_only: bool = False
    tf_adjust: bool = False  # the first level weighs log2(m / frequency of the value) for frequent values

    @property
    def all_levels(self) -> tuple[Level, ...]:
        """The levels then "else": level index i of a pair's gamma is all_levels[i]."""
        return (*self.levels, self.otherwise)


@dataclass(frozen=True, slots=True)
class Training:
    """How `justlink identity train` / `justlink resolve` estimate the model (see training.py)."""
    random_pairs: int = 200_000     # pairs drawn (deterministically) to estimate u
    max_iterations: int = 60
    match_probability: float = 0.999  # link when P(same person | evidence) reaches it
    possible_band: float = 10.0     # bits below the match threshold that are kept for review
    tf_min_count: int = 5           # values seen fewer times get no frequency of their own


# Every value comes from the configuration file (config.toml is the one place for the defaults).
@dataclass(frozen=True, slots=True)
class MatchConfig:
    comparisons: tuple[Comparison, ...]
    rules: tuple[tuple[str, ...], ...]  # candidate rules: a pair is scored when one rule's keys all agree
    match_threshold: float
    possible_threshold: float
    training: Training = Training()
    term_frequencies: dict[str, dict[str, float]] = field(default_factory=dict)  # attribute -> value -> freq
    provenance: dict[str, Any] = field(default_factory=dict)  # what a trained model was estimated from
    source: str = field(default="", compare=False)  # the file it was read from

    def comparison(self, attribute: str) -> Comparison:
        for comparison in self.comparisons:
            if comparison.attribute == attribute:
                return comparison
        raise KeyError(attribute)


def _probability(where: str, raw: dict[str, Any], name: str) -> float:
    value = raw.get(name)
    if not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
        raise ConfigError(f"{where}: {name} must be a probability in (0, 1], got {value!r}")
    return float(value)


def _level(where: str, raw: Any, outcome: str | None = None) -> Level:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table with m and u")
    outcome = outcome or raw.get("outcome")
    if outcome not in OUTCOMES:
        raise ConfigError(f"{where}: outcome must be one of {OUTCOMES}, got {outcome!r}")
    conditions = []
    for key, value in raw.items():
        if key in ("outcome", "m", "u"):
            continue
        if key not in MEASURES or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where}: unknown condition {key!r} (expected one of {MEASURES} = 0..1)")
        conditions.append((key, float(value)))
    return Level(outcome, _probability(where, raw, "m"), _probability(where, raw, "u"), tuple(conditions))


def _comparison(source: str, attribute: str, raw: dict[str, Any]) -> Comparison:
    where = f"{source}: comparisons.{attribute}"
    kind = raw.get("kind")
    if kind not in ("exact", "similarity"):
        raise ConfigError(f"{where}: kind must be 'exact' or 'similarity', got {kind!r}")
    levels_raw = raw.get("levels")
    if not isinstance(levels_raw, list) or not levels_raw:
        raise ConfigError(f"{where}: levels must be a non-empty list")
    levels = tuple(_level(f"{where}.levels[{i}]", lv) for i, lv in enumerate(levels_raw))
    otherwise = _level(f"{where}.else", raw.get("else"), "disagree")
    field_name = raw.get("field", "")
    if kind == "exact":
        if field_name not in EXACT_FIELDS:
            raise ConfigError(f"{where}: field must be one of {EXACT_FIELDS}, got {field_name!r}")
        if levels[0].conditions or any(not level.conditions for level in levels[1:]):
            raise ConfigError(f"{where}: an exact comparison has a first level (agree) without conditions; "
                              "any further level needs a similarity condition")
    elif any(not level.conditions for level in levels):
        raise ConfigError(f"{where}: every level of a similarity comparison needs a condition")
    tf_adjust = bool(raw.get("tf_adjust", False))
    if tf_adjust and (kind != "similarity" or levels[0].conditions[0] != ("name", 1.0)):
        raise ConfigError(f"{where}: tf_adjust needs a first level of name = 1.0 (the exact name)")
    return Comparison(attribute, kind, levels, otherwise, field_name,
                      bool(raw.get("hard_conflict", False)), bool(raw.get("same_agency_only", False)), tf_adjust)


def _section(source: Path, raw: dict[str, Any], name: str) -> dict[str, Any]:
    section = raw.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: missing [{name}] table")
    return section


def _rules(source: Path, raw: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    candidates = _section(source, raw, "candidates")
    rules = candidates.get("rules")
    if not isinstance(rules, list) or not rules:
        raise ConfigError(f"{source}: [candidates] rules must be a non-empty list of lists of keys")
    out = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, list) or not rule or any(part not in KEY_PARTS for part in rule):
            raise ConfigError(f"{source}: [candidates] rules[{i}] must be a non-empty list of {KEY_PARTS}")
        out.append(tuple(rule))
    return tuple(out)


def _training(source: Path, raw: dict[str, Any]) -> Training:
    section = raw.get("training", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: [training] must be a table")
    defaults = Training()
    values = {}
    for name in Training.__dataclass_fields__:
        value = section.get(name, getattr(defaults, name))
        if not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{source}: [training] {name} must be a positive number, got {value!r}")
        values[name] = type(getattr(defaults, name))(value)
    if not values["match_probability"] < 1.0:
        raise ConfigError(f"{source}: [training] match_probability must be below 1")
    return Training(**values)


def _term_frequencies(source: Path, raw: dict[str, Any], comparisons: tuple[Comparison, ...]) -> dict:
    section = raw.get("term_frequencies", {})
    adjusted = {c.attribute for c in comparisons if c.tf_adjust}
    out: dict[str, dict[str, float]] = {}
    for attribute, table in section.items():
        if attribute not in adjusted or not isinstance(table, dict):
            raise ConfigError(f"{source}: [term_frequencies.{attribute}] needs a comparison with tf_adjust")
        for value, freq in table.items():
            if not isinstance(freq, (int, float)) or not 0.0 < freq <= 1.0:
                raise ConfigError(f"{source}: [term_frequencies.{attribute}] {value}: a frequency in (0, 1]")
        out[attribute] = {str(k): float(v) for k, v in table.items()}
    return out


def _read(source: Path, depth: int = 0) -> dict[str, Any]:
    """The file's tables; `extends = "other.toml"` (relative to the file) takes the other file's tables
    and replaces those this file has."""
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str) or depth > 3:
        raise ConfigError(f"{source}: extends must name one other model file (at most 4 deep)")
    merged = _read(source.parent / base, depth + 1)
    merged.update(raw)
    return merged


def load_config(path: Path | str | None = None) -> MatchConfig:
    source = Path(path) if path else DEFAULT_CONFIG
    return parse_config(_read(source), source)


def parse_config(raw: dict[str, Any], source: Path | str = "<model>") -> MatchConfig:
    source = Path(source)
    comparisons_raw = raw.get("comparisons")
    if not isinstance(comparisons_raw, dict) or not comparisons_raw:
        raise ConfigError(f"{source}: no [comparisons.*] tables")
    comparisons = tuple(_comparison(str(source), name, body) for name, body in comparisons_raw.items())
    thresholds = _section(source, raw, "thresholds")
    missing = [key for key in ("match", "possible") if not isinstance(thresholds.get(key), int | float)]
    if missing:
        raise ConfigError(f"{source}: [thresholds] needs a number for {', '.join(missing)}")
    match = float(thresholds["match"])
    possible = float(thresholds["possible"])
    if possible > match:
        raise ConfigError(f"{source}: [thresholds] possible ({possible}) must not exceed match ({match})")
    provenance = raw.get("model", {})
    return MatchConfig(comparisons, _rules(source, raw), match, possible, _training(source, raw),
                       _term_frequencies(source, raw, comparisons), dict(provenance), str(source))
