"""Model files: a trained model written as TOML in config.toml's shape, where the processors find it,
and what changed against another model.

The streaming resolver uses ``<data dir>/identity/model.toml`` when it exists (else the default
config.toml). `justlink identity train` never replaces it silently: it writes
``model.proposed.toml`` and prints the changes; `justlink identity train --accept` (or
`accept_proposed`) makes the proposal the model. A model change applies to what is resolved from
then on; to apply it to the past, rebuild the processors' state from the log.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from streams.identity.config import DEFAULT_CONFIG, Comparison, Level, MatchConfig, load_config

MODEL_DIR = "identity"
MODEL_FILE = "model.toml"
PROPOSED_FILE = "model.proposed.toml"


def model_path(data_dir: Path) -> Path:
    return Path(data_dir) / MODEL_DIR / MODEL_FILE


def proposed_path(data_dir: Path) -> Path:
    return Path(data_dir) / MODEL_DIR / PROPOSED_FILE


def load_model(data_dir: Path | None) -> MatchConfig:
    """The data dir's accepted model, else the default configuration."""
    path = model_path(data_dir) if data_dir is not None else None
    return load_config(path if path is not None and path.is_file() else DEFAULT_CONFIG)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _level(level: Level, with_outcome: bool = True) -> str:
    items = ([f'outcome = "{level.outcome}"'] if with_outcome else [])
    items += [f"{name} = {_value(minimum)}" for name, minimum in level.conditions]
    items += [f"m = {_value(level.m)}", f"u = {_value(level.u)}"]
    return "{ " + ", ".join(items) + " }"


def _comparison(c: Comparison) -> list[str]:
    lines = [f"[comparisons.{c.attribute}]", f'kind = "{c.kind}"']
    if c.field:
        lines.append(f'field = "{c.field}"')
    for flag in ("hard_conflict", "same_agency_only", "tf_adjust"):
        if getattr(c, flag):
            lines.append(f"{flag} = true")
    lines.append("levels = [")
    lines += [f"  {_level(level)},  # {level.weight:+.2f} bits" for level in c.levels]
    lines.append("]")
    lines.append(f"else = {_level(c.otherwise, with_outcome=False)}  # {c.otherwise.weight:+.2f} bits")
    return lines


def render(config: MatchConfig, title: str) -> str:
    """The model as TOML that load_config reads back to an equal model."""
    lines = [f"# {title}", "# Written by JustLink (streams/identity/model.py); weights in bits are log2(m / u).", ""]
    if config.provenance:
        lines.append("[model]")
        lines += [f"{key} = {_value(value)}" for key, value in config.provenance.items()]
        lines.append("")
    lines += ["[thresholds]", f"match = {_value(config.match_threshold)}",
              f"possible = {_value(config.possible_threshold)}", "", "[candidates]",
              "rules = " + _value([list(rule) for rule in config.rules]), "", "[training]"]
    t = config.training
    lines += [f"{name} = {_value(getattr(t, name))}" for name in t.__dataclass_fields__]
    lines.append("")
    for c in config.comparisons:
        lines += _comparison(c)
        lines.append("")
    for attribute, table in config.term_frequencies.items():
        lines.append(f"[term_frequencies.{attribute}]  # share of profiles with this value, for common values")
        lines += [f'"{value}" = {_value(freq)}' for value, freq in sorted(table.items())]
        lines.append("")
    return "\n".join(lines)


def write_model(config: MatchConfig, path: Path, title: str) -> Path:
    """Write atomically, owner-only (the frequency table names keyed values of the data)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(render(config, title))
    tmp.replace(path)
    return path


def accept_proposed(data_dir: Path) -> Path:
    proposed = proposed_path(data_dir)
    if not proposed.is_file():
        raise FileNotFoundError(f"no proposed model at {proposed}: run `justlink identity train` first")
    load_config(proposed)  # still valid
    target = model_path(data_dir)
    proposed.replace(target)
    return target


def changes(old: MatchConfig, new: MatchConfig) -> list[str]:
    """Human-readable differences: thresholds, rules, and each level's weight (bits)."""
    out = []
    for name, a, b in (("match threshold", old.match_threshold, new.match_threshold),
                       ("possible threshold", old.possible_threshold, new.possible_threshold)):
        if a != b:
            out.append(f"{name}: {a:.2f} -> {b:.2f}")
    if old.rules != new.rules:
        out.append(f"candidate rules: {list(map(list, old.rules))} -> {list(map(list, new.rules))}")
    before = {c.attribute: c for c in old.comparisons}
    for c in new.comparisons:
        o = before.pop(c.attribute, None)
        if o is None:
            out.append(f"{c.attribute}: new comparison")
            continue
        for index, level in enumerate(c.all_levels):
            label = _label(c, index)
            if index >= len(o.all_levels):
                out.append(f"{c.attribute} {label}: new level {level.weight:+.2f}")
                continue
            w0, w1 = o.all_levels[index].weight, level.weight
            if not math.isclose(w0, w1, abs_tol=0.005):
                out.append(f"{c.attribute} {label}: {w0:+.2f} -> {w1:+.2f} bits")
    out += [f"{attribute}: comparison removed" for attribute in before]
    old_tf = sum(len(t) for t in old.term_frequencies.values())
    new_tf = sum(len(t) for t in new.term_frequencies.values())
    if old.term_frequencies != new.term_frequencies:
        out.append(f"term frequencies: {old_tf} -> {new_tf} common values")
    return out


def _label(c: Comparison, index: int) -> str:
    if index == len(c.levels):
        return "else"
    level = c.levels[index]
    conditions = ", ".join(f"{n}>={v:g}" for n, v in level.conditions)
    return f"{level.outcome}" + (f" [{conditions}]" if conditions else "")
