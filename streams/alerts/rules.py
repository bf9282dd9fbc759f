"""Alert rules as data: load streams/alerts/rules.toml, validate it against the event contracts,
and say on which line any problem is. A bad rules file never half-loads (README.md: the format).

Three condition kinds:
- `count`: several clauses, ANDed, each "at least `min` distinct events matching `match` within
  `within_days`", over one person's history; the windows end at a common time.
- `co_occurrence`: a state opened by a `start` event (closed by an `end` event carrying the same
  `key_field` value) and an `event` matching a filter while the state is open, for one person.
- `deadline`: an `opening` event with no `follow_up` event on the same dispute thread / person /
  record within `within_hours`.
Event filters match the event type, the dispute stage the threading gave it, the subject's party role,
and plain (never personal, never encrypted) fields of the event such as `category`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.tomlcheck import TomlChecker, TomlError
from schemas import loader

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.toml")
LEVELS = ("red", "yellow", "blue")
KINDS = ("count", "co_occurrence", "deadline")
SUBJECTS = ("dispute", "person")
SAME = ("dispute_or_person", "dispute", "person", "record")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

KeyPath = tuple[str | int, ...]


class RulesError(TomlError):
    """The rules file is invalid; the message names the file, the line and the key."""


@dataclass(frozen=True, slots=True)
class Filter:
    """Matches an event: any of `types` (empty: any type), any of `stages`, the subject's party role in
    `roles`, and each `where` field equal to one of its values. `bit` is its place in history masks."""

    bit: int
    types: frozenset[str]
    stages: frozenset[str]
    roles: frozenset[str]
    where: tuple[tuple[str, frozenset[Any]], ...]

    def matches_event(self, event_type: str, record: dict[str, Any], stage: str | None) -> bool:
        if self.types and event_type not in self.types:
            return False
        if self.stages and stage not in self.stages:
            return False
        return all(record.get(name) in values for name, values in self.where)


@dataclass(frozen=True, slots=True)
class Clause:
    min: int
    within_ms: int
    mask: int


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    level: str
    role: str
    kind: str
    message: str
    line: int | None
    clauses: tuple[Clause, ...] = ()          # count
    start_mask: int = 0                       # co_occurrence
    end_mask: int = 0
    event_mask: int = 0
    key_field: str | None = None              # co_occurrence: pairs start and end; deadline: same record
    opening_mask: int = 0                     # deadline
    follow_mask: int = 0
    within_ms: int = 0
    subject: str = "person"
    same: str = "dispute_or_person"
    follow_agencies: tuple[str, ...] = ()     # agencies whose feeds can deliver a follow-up

    @property
    def mask(self) -> int:
        """Every filter bit this rule reads: an event matching none of them cannot change it."""
        return (sum(c.mask for c in self.clauses) | self.start_mask | self.end_mask | self.event_mask
                | self.opening_mask | self.follow_mask)


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    filters: tuple[Filter, ...]
    history_ms: int
    grace_ms: int
    key_fields: tuple[str, ...]
    by_type: dict[str, tuple[Filter, ...]] = field(default_factory=dict)   # filters that may match a type
    any_type: tuple[Filter, ...] = ()
    source: str = "<rules>"

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def candidates(self, event_type: str) -> tuple[Filter, ...]:
        return self.by_type.get(event_type, self.any_type)


# --- validation --------------------------------------------------------------------------------------
class _Checker(TomlChecker):
    error = RulesError

    def choice(self, data: Any, path: KeyPath, allowed: tuple[str, ...]) -> str:
        if data not in allowed:
            raise self.fail(path, f"expected one of {', '.join(allowed)}, got {data!r}")
        return data

    def string_list(self, data: Any, path: KeyPath) -> list[str]:
        if not isinstance(data, list) or not all(isinstance(x, str) and x for x in data):
            raise self.fail(path, f"expected a list of strings, got {data!r}")
        return data

    def number(self, data: Any, path: KeyPath, minimum: float) -> float:
        if not isinstance(data, (int, float)) or isinstance(data, bool) or data < minimum:
            raise self.fail(path, f"expected a number >= {minimum}, got {data!r}")
        return float(data)


class _Builder:
    """Validates filters against the contracts and numbers them (one bit each, shared when equal)."""

    def __init__(self, check: _Checker) -> None:
        self.check = check
        self.schemas = loader.load_all()
        self.filters: dict[tuple[Any, ...], Filter] = {}
        self.stages = self._stages()
        self.roles = self._party_roles()

    def _stages(self) -> set[str]:
        threaded = self.schemas["DisputeThreaded"].expanded
        return set(next(f for f in threaded["fields"] if f["name"] == "stage")["type"]["symbols"])

    def _party_roles(self) -> set[str]:
        for schema in self.schemas.values():
            for fld in schema.expanded["fields"]:
                if fld["name"] == "parties":
                    role = next(f for f in fld["type"]["items"]["fields"] if f["name"] == "role")
                    return set(role["type"]["symbols"])
        return set()

    def event_type(self, name: str, path: KeyPath) -> None:
        if name not in self.schemas or self.schemas[name].agency == "hub":
            known = ", ".join(sorted(n for n, s in self.schemas.items() if s.agency != "hub"))
            raise self.check.fail(path, f"unknown agency event type {name!r} (known: {known})")

    def plain_field(self, name: str, types: list[str], path: KeyPath) -> set[Any]:
        """The values a plain field may take in `types` (None: any string). Personal, encrypted, nested
        or missing fields are refused: a rule never reads personal data."""
        allowed: set[Any] = set()
        open_ended = False
        for event_type in types or [n for n, s in self.schemas.items() if s.agency != "hub"]:
            fld = next((f for f in self.schemas[event_type].expanded["fields"] if f["name"] == name), None)
            if fld is None:
                if types:
                    raise self.check.fail(path, f"{event_type} has no field {name!r}")
                continue
            if "pii" in fld:
                raise self.check.fail(path, f"{event_type}.{name} is personal data ({fld['pii']}); rules may "
                                            "only read plain fields")
            kind = [t for t in fld["type"] if t != "null"] if isinstance(fld["type"], list) else [fld["type"]]
            if len(kind) != 1:
                raise self.check.fail(path, f"{event_type}.{name} is not a simple field")
            kind = kind[0]
            if isinstance(kind, dict) and kind.get("type") == "enum":
                allowed.update(kind["symbols"])
            elif kind == "boolean":
                allowed.update((True, False))
            elif kind == "string":
                open_ended = True
            else:
                raise self.check.fail(path, f"{event_type}.{name} is not a string, enum or boolean field")
        if not allowed and not open_ended:
            raise self.check.fail(path, f"no agency event type has a plain field {name!r}")
        return set() if open_ended else allowed

    def filter(self, data: Any, path: KeyPath) -> Filter:
        spec = self.check.table(data, path)
        self.check.keys(spec, path, set(), {"types", "stages", "roles", "where"})
        if not spec:
            raise self.check.fail(path, "an empty filter would match every event")
        types = self.check.string_list(spec.get("types", []), path + ("types",))
        for i, name in enumerate(types):
            self.event_type(name, path + ("types", i))
        stages = self.check.string_list(spec.get("stages", []), path + ("stages",))
        for stage in stages:
            if stage not in self.stages:
                raise self.check.fail(path + ("stages",), f"unknown stage {stage!r} (known: "
                                                          f"{', '.join(sorted(self.stages))})")
        roles = self.check.string_list(spec.get("roles", []), path + ("roles",))
        for role in roles:
            if role not in self.roles:
                raise self.check.fail(path + ("roles",), f"unknown party role {role!r}")
        where: list[tuple[str, frozenset[Any]]] = []
        for name, values in sorted(self.check.table(spec.get("where", {}), path + ("where",)).items()):
            allowed = self.plain_field(name, types, path + ("where", name))
            values = values if isinstance(values, list) else [values]
            for value in values:
                if not isinstance(value, (str, bool)) or (allowed and value not in allowed):
                    hint = f" (allowed: {', '.join(sorted(map(str, allowed)))})" if allowed else ""
                    raise self.check.fail(path + ("where", name), f"value {value!r} is not possible{hint}")
            where.append((name, frozenset(values)))
        key = (frozenset(types), frozenset(stages), frozenset(roles), tuple(where))
        if key not in self.filters:
            self.filters[key] = Filter(len(self.filters), *key)
        return self.filters[key]

    def filters_mask(self, data: Any, path: KeyPath) -> tuple[int, list[Filter]]:
        """A filter or a list of filters (ORed) -> (mask, filters)."""
        items = data if isinstance(data, list) else [data]
        if not items:
            raise self.check.fail(path, "expected a filter or a non-empty list of filters")
        found = [self.filter(item, path + ((i,) if isinstance(data, list) else ())) for i, item in enumerate(items)]
        return sum({1 << f.bit for f in found}), found

    def agencies(self, filters: list[Filter], path: KeyPath) -> tuple[str, ...]:
        if any(not f.types for f in filters):
            return tuple(sorted({s.agency for s in self.schemas.values() if s.agency != "hub"}))
        return tuple(sorted({self.schemas[t].agency for f in filters for t in f.types}))


# --- loading ------------------------------------------------------------------------------------------
def load_rules(path: Path | str | None = None) -> RuleSet:
    """Load and validate a rules file (default: the packaged streams/alerts/rules.toml)."""
    source = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read rules: {exc.strerror}", source, None) from None
    return parse_rules(text, source=source)


def parse_rules(text: str, *, source: Path | str = "<rules>") -> RuleSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise RulesError(f"not valid TOML: {exc}", source, line) from None
    check = _Checker(source, text)
    check.keys(data, (), {"rule"}, {"settings"})
    settings = check.table(data.get("settings", {}), ("settings",))
    check.keys(settings, ("settings",), set(), {"history_days", "deadline_grace_hours"})
    build = _Builder(check)
    raw_rules = data["rule"]
    if not isinstance(raw_rules, list) or not raw_rules:
        raise check.fail(("rule",), "expected at least one [[rule]]")
    rules: list[Rule] = []
    names: set[str] = set()
    for i, raw in enumerate(raw_rules):
        rule = _rule(check, build, check.table(raw, ("rule", i)), ("rule", i))
        if rule.name in names:
            raise check.fail(("rule", i, "name"), f"duplicate rule name {rule.name!r}")
        names.add(rule.name)
        rules.append(rule)
    longest = max([c.within_ms for r in rules for c in r.clauses] or [0])
    history_ms = int(check.number(settings.get("history_days", 1825), ("settings", "history_days"), 1) * DAY_MS)
    if history_ms < longest:
        raise check.fail(("settings", "history_days"), f"must cover the longest count window "
                                                       f"({longest // DAY_MS} days)")
    grace_ms = int(check.number(settings.get("deadline_grace_hours", 0), ("settings", "deadline_grace_hours"), 0)
                   * HOUR_MS)
    filters = tuple(sorted(build.filters.values(), key=lambda f: f.bit))
    all_types = {n for n, s in build.schemas.items() if s.agency != "hub"}
    any_type = tuple(f for f in filters if not f.types)
    by_type = {t: tuple(f for f in filters if not f.types or t in f.types) for t in all_types}
    key_fields = tuple(sorted({r.key_field for r in rules if r.key_field}))
    return RuleSet(tuple(rules), filters, history_ms, grace_ms, key_fields, by_type, any_type, str(source))


def _rule(check: _Checker, build: _Builder, raw: dict[str, Any], path: KeyPath) -> Rule:
    kind = check.choice(raw.get("kind"), path + ("kind",), KINDS)
    common = {"name", "kind", "level", "role"}
    optional = {"message"}
    if kind == "count":
        check.keys(raw, path, common | {"clauses"}, optional)
    elif kind == "co_occurrence":
        check.keys(raw, path, common | {"start", "end", "event"}, optional | {"key_field"})
    else:
        check.keys(raw, path, common | {"opening", "follow_up"}, optional
                   | {"within_hours", "within_days", "subject", "same", "key_field"})
    name = check.string(raw["name"], path + ("name",))
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise check.fail(path + ("name",), f"rule names are ascii letters, digits and _, got {name!r}")
    base: dict[str, Any] = {"name": name, "kind": kind, "level": check.choice(raw["level"], path + ("level",), LEVELS),
            "role": check.string(raw["role"], path + ("role",)),
            "message": check.string(raw.get("message", name.replace("_", " ")), path + ("message",)),
            "line": check.line(path)}
    if kind == "count":
        return Rule(**base, clauses=_clauses(check, build, raw["clauses"], path + ("clauses",)))
    if kind == "co_occurrence":
        start, start_filters = build.filters_mask(raw["start"], path + ("start",))
        end, end_filters = build.filters_mask(raw["end"], path + ("end",))
        event, _ = build.filters_mask(raw["event"], path + ("event",))
        key_field = _key_field(check, build, raw, path, start_filters + end_filters)
        return Rule(**base, start_mask=start, end_mask=end, event_mask=event, key_field=key_field)
    opening, opening_filters = build.filters_mask(raw["opening"], path + ("opening",))
    follow, follow_filters = build.filters_mask(raw["follow_up"], path + ("follow_up",))
    if ("within_hours" in raw) == ("within_days" in raw):
        raise check.fail(path, "a deadline needs exactly one of within_hours, within_days")
    if "within_hours" in raw:
        within = check.number(raw["within_hours"], path + ("within_hours",), 1) * HOUR_MS
    else:
        within = check.number(raw["within_days"], path + ("within_days",), 1) * DAY_MS
    same = check.choice(raw.get("same", "dispute_or_person"), path + ("same",), SAME)
    key_field = _key_field(check, build, raw, path, opening_filters + follow_filters)
    if same == "record" and key_field is None:
        raise check.fail(path + ("same",), "same = \"record\" needs key_field")
    return Rule(**base, opening_mask=opening, follow_mask=follow, within_ms=int(within),
                subject=check.choice(raw.get("subject", "dispute"), path + ("subject",), SUBJECTS), same=same,
                key_field=key_field, follow_agencies=build.agencies(follow_filters, path + ("follow_up",)))


def _key_field(check: _Checker, build: _Builder, raw: dict[str, Any], path: KeyPath,
               filters: list[Filter]) -> str | None:
    if "key_field" not in raw:
        return None
    name = check.string(raw["key_field"], path + ("key_field",))
    types = sorted({t for f in filters for t in f.types})
    if not types:
        raise check.fail(path + ("key_field",), "key_field needs filters that name their event types")
    build.plain_field(name, types, path + ("key_field",))
    return name


def _clauses(check: _Checker, build: _Builder, data: Any, path: KeyPath) -> tuple[Clause, ...]:
    if not isinstance(data, list) or not data:
        raise check.fail(path, "expected at least one [[rule.clauses]]")
    clauses = []
    for i, raw in enumerate(data):
        where = path + (i,)
        raw = check.table(raw, where)
        check.keys(raw, where, {"min", "match"}, {"within_days", "within_hours"})
        minimum = check.number(raw["min"], where + ("min",), 1)
        if minimum != int(minimum):
            raise check.fail(where + ("min",), f"expected a whole number, got {raw['min']!r}")
        if ("within_hours" in raw) == ("within_days" in raw):
            raise check.fail(where, "a clause needs exactly one of within_days, within_hours")
        within = (check.number(raw["within_days"], where + ("within_days",), 1) * DAY_MS if "within_days" in raw
                  else check.number(raw["within_hours"], where + ("within_hours",), 1) * HOUR_MS)
        mask, _ = build.filters_mask(raw["match"], where + ("match",))
        clauses.append(Clause(int(minimum), int(within), mask))
    return tuple(clauses)
