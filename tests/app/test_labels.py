"""The pages are Chinese throughout: every code the hub shows — roles, purposes, event types, stages,
enumerations of the records (incident categories, correction types, risk levels, verdicts, hearing
kinds, service methods, ...), alert rules, refusal reasons, field names — has a Chinese label in the one
table the pages and the hub share (hub/web/static/labels.json)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from connectors.court import connector as court
from consent.access.policy import load_policy
from hub.services.labels import LABELS_FILE, labels
from schemas import loader

ROOT = Path(__file__).resolve().parents[2]
AGENCY_EVENTS = [e for e in loader.event_types() if loader.get(e).agency != "hub"]


def enum_fields() -> dict[str, set[str]]:
    """field name -> every enum symbol that field takes in the agencies' event schemas."""
    found: dict[str, set[str]] = {}

    def walk(node: object, field: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "enum":
                found.setdefault(field, set()).update(node["symbols"])
            for key in ("type", "items"):
                if key in node:
                    walk(node[key], field)
            if node.get("type") == "record":
                for child in node["fields"]:
                    walk(child["type"], child["name"])
        elif isinstance(node, list):
            for item in node:
                walk(item, field)

    for event_type in AGENCY_EVENTS:
        for field in loader.get(event_type).expanded["fields"]:
            if field["name"] != "envelope":
                walk(field["type"], field["name"])
    return found


def missing(table: str, codes: set[str]) -> list[str]:
    return sorted(c for c in codes if c not in labels().get(table, {}))


def test_every_role_purpose_event_type_and_alert_rule_has_a_chinese_label() -> None:
    policy = load_policy()
    rules = tomllib.loads((ROOT / "streams" / "alerts" / "rules.toml").read_text(encoding="utf-8"))
    names = {r["name"] for r in rules.get("rule", [])} or set(rules)
    assert missing("role", set(policy.roles)) == []
    assert missing("purpose", set(policy.purposes)) == []
    assert missing("event_type", set(AGENCY_EVENTS)) == []
    assert missing("alert_rule", names - {"version", "grace_hours"}) == []


@pytest.mark.parametrize("field", sorted(set(labels()["field_enum"])))
def test_every_enumeration_shown_on_the_pages_is_in_chinese(field: str) -> None:
    table = labels()["field_enum"][field]
    symbols = enum_fields().get(field, set())
    if field == "outcome":
        symbols |= set(court.OUTCOMES.values())   # the court's verdicts travel as codes too
    assert symbols, f"no enumeration named {field!r} in the schemas: drop it from field_enum"
    assert missing(table, symbols) == [], f"{field}: add Chinese labels to labels.json[{table!r}]"


def test_every_field_of_a_record_has_a_chinese_name() -> None:
    fields = {f["name"] for e in AGENCY_EVENTS for f in loader.get(e).expanded["fields"]} - {"envelope", "parties"}
    party = next(f for f in loader.get("MediationCaseOpened").expanded["fields"] if f["name"] == "parties")
    fields |= {f["name"] for f in party["type"]["items"]["fields"]} - {"protection"}
    assert missing("field", fields) == []


def test_every_refusal_reason_the_gate_gives_has_a_chinese_label() -> None:
    source = "\n".join((ROOT / "consent" / "access" / name).read_text(encoding="utf-8")
                       for name in ("decisions.py", "gate.py"))
    reasons = set(re.findall(r'return "([a-z_]+)"$', source, re.MULTILINE)) | set(re.findall(r'_deny\([^,]+, "([a-z_]+)"', source))
    reasons |= set(re.findall(r'AccessDecision\(False, "[a-z_]+", "([a-z_]+)"', source))
    reasons |= set(re.findall(r'return "([a-z_]+)" if .* else "([a-z_]+)"', source)[0])
    assert {"not_party", "case_closed", "other_office", "unknown_role"} <= reasons
    assert missing("reason", reasons) == []


def test_the_labels_file_is_what_the_pages_load() -> None:
    assert LABELS_FILE == ROOT / "hub" / "web" / "static" / "labels.json"
    script = (ROOT / "hub" / "web" / "static" / "labels.js").read_text(encoding="utf-8")
    assert 'fetch("/static/labels.json")' in script


def test_every_kind_of_sentence_the_court_records_is_in_chinese() -> None:
    assert missing("sentence", court.SENTENCE_KINDS) == []
    assert "sentenceText(value)" in (ROOT / "hub" / "web" / "static" / "labels.js").read_text(encoding="utf-8")


def test_every_rule_of_the_policy_has_its_legal_basis_in_chinese() -> None:
    statutes = {rule.id: rule.legal_basis for rule in load_policy().rules.values()}
    assert missing("legal_basis", set(statutes)) == []
    for rule_id, basis in statutes.items():  # the same law as the policy names
        law = basis.split("(", 1)[1].split(")", 1)[0] if "(" in basis else None
        assert law is None or law in labels()["legal_basis"][rule_id], rule_id
