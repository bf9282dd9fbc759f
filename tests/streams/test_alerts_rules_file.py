"""The rules file: the default loads and names real roles; errors name the line and the key; a new
rule needs no code change; rules never read personal fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from consent.access.policy import load_policy
from streams.alerts import DEFAULT_RULES_PATH, AlertsProcessor, RulesError, load_rules, parse_rules
from tests.streams.test_alerts_builders import Driver, make, raised

GOOD = '''
[[rule]]
name = "frequent_incidents"
kind = "count"
level = "yellow"
role = "police_officer"

[[rule.clauses]]
min = 3
within_days = 30
match = { types = ["IncidentReported"], where = { category = ["fight", "neighbour_dispute"] } }
'''


def test_the_default_rules_load_and_name_roles_of_the_policy() -> None:
    rules = load_rules()
    assert [r.name for r in rules.rules] == ["repeated_divorce_with_domestic_violence",
                                              "new_incident_under_community_correction",
                                              "urgent_matter_without_response_72h", "mediation_overdue",
                                              "released_prisoner_not_received"]
    roles = set(load_policy().roles)
    assert {r.role for r in rules.rules} <= roles
    assert rules.source == str(DEFAULT_RULES_PATH)


def test_a_new_rule_is_data_only() -> None:
    driver = Driver(AlertsProcessor(parse_rules(GOOD)))
    story = [(make("IncidentReported", f"J{i}", i * 5, incident_number=f"J{i}", category="fight"), ["P-a", "P-b"])
             for i in range(3)]
    alerts = raised(driver.run(story), "frequent_incidents")
    assert {a["person_id"] for a in alerts} == {"P-a", "P-b"}
    assert all(a["level"] == "yellow" and a["role"] == "police_officer" for a in alerts)


@pytest.mark.parametrize(("edit", "line", "words"), [
    (('types = ["IncidentReported"]', 'types = ["IncidentReport"]'), 11, "unknown agency event type 'IncidentReport'"),
    (('category = ["fight"', 'summary = ["fight"'), 11, "personal data (sensitive)"),
    (('category = ["fight"', 'category = ["brawl"'), 11, "value 'brawl' is not possible"),
    (('level = "yellow"', 'level = "orange"'), 5, "expected one of red, yellow, blue"),
    (('min = 3', 'min = 0'), 9, "expected a number >= 1"),
    (('within_days = 30', 'within_weeks = 4'), 10, "unknown key 'within_weeks'"),
    (('role = "police_officer"', ''), 2, "missing key 'role'"),
])
def test_errors_name_the_line_and_key(edit: tuple[str, str], line: int, words: str) -> None:
    text = GOOD.replace(*edit)
    with pytest.raises(RulesError) as info:
        parse_rules(text, source="custom.toml")
    assert info.value.line == line, str(info.value)
    assert words in str(info.value) and str(info.value).startswith(f"custom.toml:{line}:")


def test_more_errors() -> None:
    with pytest.raises(RulesError, match="duplicate rule name"):
        parse_rules(GOOD + GOOD)
    with pytest.raises(RulesError, match="longest count window"):
        parse_rules("[settings]\nhistory_days = 10\n" + GOOD)
    with pytest.raises(RulesError, match="not valid TOML"):
        parse_rules("[[rule]\n")
    with pytest.raises(RulesError, match="has no field 'mediation_case_number'"):
        parse_rules(GOOD.replace('kind = "count"', 'kind = "co_occurrence"\nkey_field = "mediation_case_number"\n'
                                 'start = { types = ["CommunityCorrectionStarted"] }\n'
                                 'end = { types = ["CommunityCorrectionEnded"] }\n'
                                 'event = { types = ["IncidentReported"] }').split("[[rule.clauses]]")[0])
    with pytest.raises(RulesError, match="cannot read rules"):
        load_rules(Path("/nonexistent/rules.toml"))
