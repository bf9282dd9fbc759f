"""The access policy as data: load consent/access/policy.toml, validate it, and say on which line
any problem is. Validation happens once, at start; a bad policy never half-loads."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from runtime.tomlcheck import KeyPath, TomlChecker, TomlError

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.toml")
FIELD_CLASSES = ("basic", "contact", "identifier", "sensitive")
BINDINGS = ("party_in_open_case", "supervised_person", "oversight_reference", "none")
UNCASED_BINDINGS = ("none", "oversight_reference")  # no case directory behind them: no case kinds
CASE_KINDS = ("mediation", "court", "correction", "resettlement", "legal_aid", "police_incident", "registration")
DEFAULT_OTHER_PARTY_CLASSES = ("basic",)
STATUTE_PREFIX = "statute:"
CONSENT_BASIS = "consent"



class PolicyError(TomlError):
    """The policy is invalid; the message names the file, the line and the key."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    role: str
    purpose: str
    binding: str
    case_kinds: frozenset[str]
    event_types: frozenset[str]
    field_classes: frozenset[str]
    legal_basis: str
    consent_event_types: frozenset[str] = frozenset()
    consent_field_classes: frozenset[str] = frozenset()
    line: int | None = None
    same_office: bool = False  # the case must be one of the caller's offices' (as for supervision)
    # what the caller sees of the *other* parties of a record (not the subject): least data
    other_party_classes: frozenset[str] = frozenset(DEFAULT_OTHER_PARTY_CLASSES)

    @property
    def office_bound(self) -> bool:
        return self.same_office or self.binding == "supervised_person"

    @property
    def requires_consent(self) -> bool:
        return self.legal_basis == CONSENT_BASIS


@dataclass(frozen=True, slots=True)
class BreakGlassPolicy:
    roles: frozenset[str]
    max_per_user: int
    window_hours: float
    min_reason_chars: int


PARTY_RESTRICTED = ("exists", "hidden")


@dataclass(frozen=True, slots=True)
class PartyView:
    """What a party sees with the access code the office gave them at intake ([party_view])."""

    event_types: frozenset[str]
    restricted: dict[str, str]            # restriction kind -> "exists" (shown as such) | "hidden"
    accesses_withheld: frozenset[str]     # restriction kinds whose accesses stay out of "who looked at me"
    issuer_case_kinds: frozenset[str]     # the cases at whose intake a code may be given
    code_days: int
    session_minutes: int

    @property
    def code_valid(self) -> timedelta:
        return timedelta(days=self.code_days)

    @property
    def session(self) -> timedelta:
        return timedelta(minutes=self.session_minutes)


@dataclass(frozen=True, slots=True)
class Policy:
    roles: dict[str, str]
    purposes: dict[str, str]
    event_groups: dict[str, frozenset[str]]
    rules: dict[tuple[str, str], Rule]
    break_glass: BreakGlassPolicy
    restricted_visibility: dict[str, frozenset[str]]
    source: str = "<policy>"
    case_open_days: dict[str, int] | None = None  # case kind -> days a case stays open without a closing event
    party_view: PartyView | None = None

    def rule_for(self, role: str, purpose: str) -> Rule | None:
        return self.rules.get((role, purpose))

    def visible_restrictions(self, role: str) -> frozenset[str]:
        """Restriction kinds whose records `role` may see."""
        return frozenset(kind for kind, roles in self.restricted_visibility.items() if role in roles)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset().union(*self.event_groups.values()) if self.event_groups else frozenset()


# --- locating keys in the source text -------------------------------------------------------


class _Checker(TomlChecker):
    error = PolicyError


def load_policy(path: Path | str | None = None, *, known_event_types: set[str] | None = None) -> Policy:
    """Load and validate a policy file (default: the packaged consent/access/policy.toml).
    `known_event_types`, when given (e.g. the schema registry's names), makes an event type
    the schemas do not define an error."""
    source = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy: {exc.strerror}", source, None) from None
    return parse_policy(text, source=source, known_event_types=known_event_types)


def parse_policy(text: str, *, source: Path | str = "<policy>",
                 known_event_types: set[str] | None = None) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise PolicyError(f"not valid TOML: {exc}", source, int(found.group(1)) if found else None) from None
    check = _Checker(source, text)
    check.keys(data, (), {"version", "field_classes", "roles", "purposes", "event_groups", "break_glass",
                          "restricted_visibility", "rule"}, {"other_parties_field_classes", "case_open_days",
                                                                      "party_view"})
    if data["version"] != 1:
        raise check.fail(("version",), f"unsupported policy version {data['version']!r} (expected 1)")
    classes = check.string_list(data["field_classes"], ("field_classes",))
    if sorted(classes) != sorted(FIELD_CLASSES):
        raise check.fail(("field_classes",), f"must list exactly {list(FIELD_CLASSES)}")

    roles = {name: check.string(desc, ("roles", name)) for name, desc in check.table(data["roles"], ("roles",)).items()}
    purposes = {name: check.string(desc, ("purposes", name))
                for name, desc in check.table(data["purposes"], ("purposes",)).items()}
    groups: dict[str, frozenset[str]] = {}
    for name, members in check.table(data["event_groups"], ("event_groups",)).items():
        names = check.string_list(members, ("event_groups", name))
        for index, event_type in enumerate(names):
            if known_event_types is not None and event_type not in known_event_types:
                raise check.fail(("event_groups", name, index), f"unknown event type {event_type!r}")
        groups[name] = frozenset(names)

    break_glass = _break_glass(check, check.table(data["break_glass"], ("break_glass",)), roles)
    restricted = {}
    for kind, allowed in check.table(data["restricted_visibility"], ("restricted_visibility",)).items():
        for role in check.string_list(allowed, ("restricted_visibility", kind)):
            if role not in roles:
                raise check.fail(("restricted_visibility", kind), f"unknown role {role!r}")
        restricted[kind] = frozenset(allowed)

    other_default = _classes(check, check.string_list(data.get("other_parties_field_classes",
                                                               list(DEFAULT_OTHER_PARTY_CLASSES)),
                                                      ("other_parties_field_classes",)),
                             ("other_parties_field_classes",))
    open_days: dict[str, int] = {}
    for kind, days in check.table(data.get("case_open_days", {}), ("case_open_days",)).items():
        if kind not in CASE_KINDS:
            raise check.fail(("case_open_days", kind), f"unknown case kind {kind!r} (expected one of "
                                                       f"{', '.join(CASE_KINDS)})")
        open_days[kind] = check.integer(days, ("case_open_days", kind), 1)
    rules: dict[tuple[str, str], Rule] = {}
    if not isinstance(data["rule"], list):
        raise check.fail(("rule",), "expected [[rule]] tables")
    for index, raw in enumerate(data["rule"]):
        rule = _rule(check, check.table(raw, ("rule", index)), ("rule", index), roles, purposes, groups,
                     known_event_types, other_default)
        if any(other.id == rule.id for other in rules.values()):
            raise check.fail(("rule", index, "id"), f"duplicate rule id {rule.id!r}")
        if (rule.role, rule.purpose) in rules:
            first = rules[(rule.role, rule.purpose)]
            raise check.fail(("rule", index, "purpose"),
                             f"second rule for {rule.role} x {rule.purpose} (first is {first.id!r} "
                             f"on line {first.line})")
        rules[(rule.role, rule.purpose)] = rule
    party_view = (_party_view(check, check.table(data["party_view"], ("party_view",)), groups, known_event_types,
                              restricted) if "party_view" in data else None)
    return Policy(roles, purposes, groups, rules, break_glass, restricted, str(source), open_days, party_view)


def _party_view(check: _Checker, raw: dict[str, Any], groups: dict[str, frozenset[str]], known: set[str] | None,
                restricted: dict[str, frozenset[str]]) -> PartyView:
    path: KeyPath = ("party_view",)
    check.keys(raw, path, {"event_types", "restricted", "accesses_withheld", "issuer_case_kinds", "code_days",
                           "session_minutes"})
    events = _resolve_events(check, check.string_list(raw["event_types"], path + ("event_types",)),
                             path + ("event_types",), groups, known)
    shown = check.table(raw["restricted"], path + ("restricted",))
    for kind, how in shown.items():
        if kind not in restricted:
            raise check.fail(path + ("restricted", kind), f"unknown restriction kind {kind!r} (known: "
                                                          f"{', '.join(sorted(restricted))})")
        if how not in PARTY_RESTRICTED:
            raise check.fail(path + ("restricted", kind), f"expected one of {', '.join(PARTY_RESTRICTED)}, "
                                                          f"got {how!r}")
    for kind in sorted(set(restricted) - set(shown)):
        raise check.fail(path + ("restricted",), f"missing restriction kind {kind!r}")
    withheld = check.string_list(raw["accesses_withheld"], path + ("accesses_withheld",))
    for kind in withheld:
        if kind not in restricted:
            raise check.fail(path + ("accesses_withheld",), f"unknown restriction kind {kind!r}")
    kinds = _case_kinds(check, raw["issuer_case_kinds"], path + ("issuer_case_kinds",))
    return PartyView(events, dict(shown), frozenset(withheld), frozenset(kinds),
                     check.integer(raw["code_days"], path + ("code_days",), 1),
                     check.integer(raw["session_minutes"], path + ("session_minutes",), 1))


def _break_glass(check: _Checker, raw: dict[str, Any], roles: dict[str, str]) -> BreakGlassPolicy:
    path: KeyPath = ("break_glass",)
    check.keys(raw, path, {"roles", "max_per_user", "window_hours", "min_reason_chars"})
    for role in check.string_list(raw["roles"], path + ("roles",)):
        if role not in roles:
            raise check.fail(path + ("roles",), f"unknown role {role!r}")
    window = raw["window_hours"]
    if not isinstance(window, int | float) or isinstance(window, bool) or window <= 0:
        raise check.fail(path + ("window_hours",), f"expected a positive number, got {window!r}")
    return BreakGlassPolicy(frozenset(raw["roles"]), check.integer(raw["max_per_user"], path + ("max_per_user",), 1),
                            float(window), check.integer(raw["min_reason_chars"], path + ("min_reason_chars",), 1))


def _resolve_events(check: _Checker, names: list[str], path: KeyPath, groups: dict[str, frozenset[str]],
                    known: set[str] | None) -> frozenset[str]:
    resolved: set[str] = set()
    for name in names:
        if name.startswith("@"):
            if name[1:] not in groups:
                raise check.fail(path, f"unknown event group {name!r} (groups: {', '.join(sorted(groups))})")
            resolved |= groups[name[1:]]
        elif known is not None and name not in known:
            raise check.fail(path, f"unknown event type {name!r}")
        else:
            resolved.add(name)
    return frozenset(resolved)


def _classes(check: _Checker, names: list[str], path: KeyPath) -> frozenset[str]:
    for name in names:
        if name not in FIELD_CLASSES:
            raise check.fail(path, f"unknown field class {name!r} (expected one of {', '.join(FIELD_CLASSES)})")
    return frozenset(names)


def _rule(check: _Checker, raw: dict[str, Any], path: KeyPath, roles: dict[str, str], purposes: dict[str, str],
          groups: dict[str, frozenset[str]], known: set[str] | None, other_default: frozenset[str]) -> Rule:
    check.keys(raw, path, {"id", "role", "purpose", "binding", "case_kinds", "event_types", "field_classes",
                           "legal_basis"}, {"with_consent", "same_office", "other_parties_field_classes"})
    rule_id = check.string(raw["id"], path + ("id",))
    role = check.string(raw["role"], path + ("role",))
    if role not in roles:
        raise check.fail(path + ("role",), f"unknown role {role!r}")
    purpose = check.string(raw["purpose"], path + ("purpose",))
    if purpose not in purposes:
        raise check.fail(path + ("purpose",), f"unknown purpose {purpose!r}")
    binding = check.string(raw["binding"], path + ("binding",))
    if binding not in BINDINGS:
        raise check.fail(path + ("binding",), f"unknown binding {binding!r} (expected one of {', '.join(BINDINGS)})")
    kinds = _case_kinds(check, raw["case_kinds"], path + ("case_kinds",))
    if (binding in UNCASED_BINDINGS) != (not kinds):
        raise check.fail(path + ("case_kinds",), f"binding {binding!r} takes no case kinds" if kinds
                         else f"binding {binding!r} needs case kinds")
    events = _resolve_events(check, check.string_list(raw["event_types"], path + ("event_types",)),
                             path + ("event_types",), groups, known)
    classes = _classes(check, check.string_list(raw["field_classes"], path + ("field_classes",)),
                       path + ("field_classes",))
    if binding == "none" and classes:
        raise check.fail(path + ("field_classes",), "a rule without case binding may not grant person fields")
    basis = check.string(raw["legal_basis"], path + ("legal_basis",))
    if basis != CONSENT_BASIS and not (basis.startswith(STATUTE_PREFIX) and basis[len(STATUTE_PREFIX):].strip()):
        raise check.fail(path + ("legal_basis",), f"expected 'consent' or 'statute: <law>', got {basis!r}")
    consent_events: frozenset[str] = frozenset()
    consent_classes: frozenset[str] = frozenset()
    if "with_consent" in raw:
        extra_path = path + ("with_consent",)
        extra = check.table(raw["with_consent"], extra_path)
        check.keys(extra, extra_path, set(), {"event_types", "field_classes"})
        if basis == CONSENT_BASIS:
            raise check.fail(extra_path, "with_consent only extends a statute basis")
        consent_events = _resolve_events(check, check.string_list(extra.get("event_types", []),
                                                                  extra_path + ("event_types",)),
                                         extra_path + ("event_types",), groups, known)
        consent_classes = _classes(check, check.string_list(extra.get("field_classes", []),
                                                            extra_path + ("field_classes",)),
                                   extra_path + ("field_classes",))
    same_office = raw.get("same_office", False)
    if not isinstance(same_office, bool):
        raise check.fail(path + ("same_office",), f"expected true or false, got {same_office!r}")
    others = other_default
    if "other_parties_field_classes" in raw:
        others = _classes(check, check.string_list(raw["other_parties_field_classes"],
                                                   path + ("other_parties_field_classes",)),
                          path + ("other_parties_field_classes",))
    return Rule(rule_id, role, purpose, binding, frozenset(kinds), events, classes, basis,
                consent_events, consent_classes, check.line(path), same_office, others)


def matrix_markdown(policy: Policy) -> str:
    """The policy as a table, role by role: what binds the caller to the subject, on which legal basis,
    which records and which fields — of the subject, with the subject's consent, and of the other parties
    of a record. consent/access/POLICY.md holds this table (a test keeps it equal)."""
    groups = {members: f"@{name}" for name, members in policy.event_groups.items()}

    def events(types: frozenset[str]) -> str:
        named = sorted(name for members, name in groups.items() if members <= types)
        covered = frozenset().union(*(policy.event_groups[n[1:]] for n in named)) if named else frozenset()
        return ", ".join(named + sorted(types - covered)) or "—"

    def classes(found: frozenset[str]) -> str:
        return ", ".join(c for c in FIELD_CLASSES if c in found) or "—"

    lines = ["| role | purpose | bound by | legal basis | records | subject's fields | with consent | "
             "other parties' fields |", "|---|---|---|---|---|---|---|---|"]
    for rule in sorted(policy.rules.values(), key=lambda r: (r.role, r.purpose)):
        if rule.binding == "none":
            bound = "nothing (no person data)"
        elif rule.binding == "oversight_reference":
            bound = "a request, complaint or audit case named (request:, complaint:, audit:)"
        else:
            bound = " or ".join(sorted(rule.case_kinds)) + " case, open, subject a party"
            if rule.office_bound:
                bound += ", of the caller's office"
        extra = ", ".join(x for x in (events(rule.consent_event_types) if rule.consent_event_types else "",
                                      classes(rule.consent_field_classes) if rule.consent_field_classes else "")
                          if x) or ("all of it" if rule.requires_consent else "—")
        lines.append(f"| {rule.role} | {rule.purpose} | {bound} | {rule.legal_basis} | {events(rule.event_types)} | "
                     f"{classes(rule.field_classes)} | {extra} | "
                     f"{classes(rule.field_classes & rule.other_party_classes)} |")
    days = ", ".join(f"{kind} {n} days" for kind, n in sorted((policy.case_open_days or {}).items()))
    lines += ["", f"Cases without a closing event close after: {days or '—'} (on the hub's event clock)."]
    return "\n".join(lines) + "\n"


def _case_kinds(check: _Checker, value: Any, path: KeyPath) -> list[str]:
    """A list of case kinds, each one the policy knows."""
    kinds = check.string_list(value, path)
    for kind in kinds:
        if kind not in CASE_KINDS:
            raise check.fail(path, f"unknown case kind {kind!r} (expected one of {', '.join(CASE_KINDS)})")
    return kinds
