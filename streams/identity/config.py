"""The matching model as data: comparisons with levels and m/u probabilities, blocking, thresholds.

`load_config()` reads streams/identity/config.toml (or another file) and checks it; errors name the
file, the comparison and the field. Weights are derived, never written: weight = log2(m / u).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).with_name("config.toml")

EXACT_FIELDS = ("id_number", "phone", "agency_person_id", "name_dob", "dob", "gender")
SIMILARITIES = ("name", "name_pinyin", "address")
OUTCOMES = ("agree", "partial", "disagree")


class ConfigError(ValueError):
    """The matching configuration is invalid; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Level:
    outcome: str
    m: float
    u: float
    conditions: tuple[tuple[str, float], ...] = ()  # (similarity name, minimum Dice), all must hold

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


@dataclass(frozen=True, slots=True)
class Comparison:
    attribute: str
    kind: str  # "exact" | "clk"
    levels: tuple[Level, ...]
    otherwise: Level
    field: str = ""  # exact comparisons: which profile field
    hard_conflict: bool = False
    same_agency_only: bool = False
    tf_adjust: bool = False  # full agreement weighs log2(m / frequency of the value), see README


UNIVERSES = ("name_key",)


# Every value comes from the configuration file (config.toml is the one place for the defaults):
# the dataclasses have no defaults of their own, so code and file cannot disagree.
@dataclass(frozen=True, slots=True)
class MatchConfig:
    comparisons: tuple[Comparison, ...]
    universe: str            # which stored profiles a new one is compared with (see config.toml)
    match_threshold: float
    possible_threshold: float

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
        if key not in SIMILARITIES or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where}: unknown condition {key!r} (expected one of {SIMILARITIES} = 0..1)")
        conditions.append((key, float(value)))
    return Level(outcome, _probability(where, raw, "m"), _probability(where, raw, "u"), tuple(conditions))


def _comparison(source: str, attribute: str, raw: dict[str, Any]) -> Comparison:
    where = f"{source}: comparisons.{attribute}"
    kind = raw.get("kind")
    if kind not in ("exact", "clk"):
        raise ConfigError(f"{where}: kind must be 'exact' or 'clk', got {kind!r}")
    levels_raw = raw.get("levels")
    if not isinstance(levels_raw, list) or not levels_raw:
        raise ConfigError(f"{where}: levels must be a non-empty list")
    levels = tuple(_level(f"{where}.levels[{i}]", lv) for i, lv in enumerate(levels_raw))
    otherwise = _level(f"{where}.else", raw.get("else"), "disagree")
    field_name = raw.get("field", "")
    if kind == "exact":
        if field_name not in EXACT_FIELDS:
            raise ConfigError(f"{where}: field must be one of {EXACT_FIELDS}, got {field_name!r}")
        if len(levels) != 1 or levels[0].conditions:
            raise ConfigError(f"{where}: an exact comparison has one level (agree) without conditions")
    elif any(not level.conditions for level in levels):
        raise ConfigError(f"{where}: every level of a clk comparison needs a similarity condition")
    tf_adjust = bool(raw.get("tf_adjust", False))
    if tf_adjust and (kind != "clk" or levels[0].conditions[0][0] != "name"):
        raise ConfigError(f"{where}: tf_adjust is supported for the name comparison only")
    return Comparison(attribute, kind, levels, otherwise, field_name,
                      bool(raw.get("hard_conflict", False)), bool(raw.get("same_agency_only", False)), tf_adjust)


def _section(source: Path, raw: dict[str, Any], name: str) -> dict[str, Any]:
    section = raw.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: missing [{name}] table")
    return section


def load_config(path: Path | str | None = None) -> MatchConfig:
    source = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    comparisons_raw = raw.get("comparisons")
    if not isinstance(comparisons_raw, dict) or not comparisons_raw:
        raise ConfigError(f"{source}: no [comparisons.*] tables")
    comparisons = tuple(_comparison(str(source), name, body) for name, body in comparisons_raw.items())
    universe = _section(source, raw, "candidates").get("universe")
    if universe not in UNIVERSES:
        raise ConfigError(f"{source}: [candidates] universe must be one of {UNIVERSES}, got {universe!r}")
    thresholds = _section(source, raw, "thresholds")
    missing = [key for key in ("match", "possible") if not isinstance(thresholds.get(key), int | float)]
    if missing:
        raise ConfigError(f"{source}: [thresholds] needs a number for {', '.join(missing)}")
    match = float(thresholds["match"])
    possible = float(thresholds["possible"])
    if possible > match:
        raise ConfigError(f"{source}: [thresholds] possible ({possible}) must not exceed match ({match})")
    return MatchConfig(comparisons, universe, match, possible)
