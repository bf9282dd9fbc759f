"""Similar cases for a mediator (类案推送), walked on a generated county: the mediator takes in a family
dispute over money at her committee and asks the hub how disputes like it ended. The answer lists concluded
threads of the same type with the facts they share (amount band, the parties' relationship, level, township),
how each ended and the success rate — built from plain facts, with no case number, thread, person or name of
anyone in it — and the read is on the audit trail like any other. Through the API, the command line (server
up, and down on the ClickHouse backend: the same answer) and the page. Callers without the case are refused."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By

from consent.access.audit import decode_record, read_trail
from hub.api.app import create_app
from hub.cli.main import cli
from hub.services.similar import load_rules
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, headers, party_of
from tests.support.browser import chromium, console_errors, open_case_as, screenshot, wait
from tests.support.records import publish_record
from tests.support.served import served

INTAKE_CASE = "（2026）城关调字第902号"
# What would name a record or a person: a case or incident number, a thread or person id, an ID number.
IDENTIFYING = re.compile(r"（\d{4}）|[JD]\d{6,}|\bP[0-9a-f]{16}\b|\bD[0-9a-f]{12,}\b|\d{17}[\dX]")


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=1500)
    # The intake: the couple of the county's richest marriage thread come to the committee over 30,000 yuan
    # after their divorce (离婚后财产纠纷): a family dispute with an amount, as a committee records it.
    publish_record(county, "justice", "MediationCaseOpened", "similar-intake", {
        "mediation_case_number": INTAKE_CASE, "level": "township", "committee": county.committee,
        "source": "walk_in", "dispute_type": "marriage_family", "summary": None, "amount_yuan": 30000.0,
        "relationship": "family"}, [(p, "mediation_party") for p in county.parties],
        office_code="411730", office_name=county.committee, occurred=datetime.now(UTC) - timedelta(hours=3))
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


def mediator(county: County, case: str | None = INTAKE_CASE) -> dict[str, str]:
    return headers(county.tokens["mediator.demo"], case=case)


def trail(county: County) -> list[dict[str, Any]]:
    records, _ = read_trail(county.hub.log)
    return [decode_record(r) for r in records]


def names_of(county: County) -> list[str]:
    """The names and ID numbers of the intake's parties (never in the answer)."""
    found = []
    for person in county.parties:
        party = party_of(county.store, county.services, person)
        found += [v for v in (party.get("name"), party.get("id_number")) if v]
    return found


def concluded_marriage_threads(county: County) -> int:
    """Marriage-and-family threads of the county with a concluding record (a mediation concluded, a judgment,
    a confirmation, an enforcement), counted on the thread view, not through the feature: the pool the
    answer draws from."""
    rows = county.store.query_rows(
        "SELECT count() FROM (SELECT e.dispute_id FROM dispute_events AS e FINAL INNER JOIN event_facts AS f "
        "FINAL ON f.event_id = e.event_id WHERE e.is_deleted = 0 GROUP BY e.dispute_id "
        "HAVING countIf(f.dispute_type = 'marriage_family') > 0 AND countIf(f.event_type IN ('MediationConcluded', "
        "'JudgmentIssued', 'MediationAgreementConfirmed', 'EnforcementUpdated')) > 0)")
    return int(rows[0][0])


def test_the_mediator_sees_how_similar_disputes_ended_and_nothing_of_anyone(county: County,
                                                                           client: TestClient) -> None:
    response = client.get("/api/v1/case/similar", headers=mediator(county))
    assert response.status_code == 200, response.text
    found = response.json()
    rules = load_rules()
    assert found["case_id"] == INTAKE_CASE
    assert found["case_facts"] == {"dispute_type": "marriage_family", "amount_band": "10000-50000",
                                   "relationship": "family", "level": "township", "township": found["case_facts"]
                                   ["township"]} and found["case_facts"]["township"]
    similar = found["similar"]
    assert rules.min_rate_base <= found["similar_total"] <= found["same_type_concluded"]
    assert found["same_type_concluded"] <= concluded_marriage_threads(county)
    assert 0 < len(similar) <= rules.limit
    assert all(s["dispute_type"] == "marriage_family" and s["score"] >= rules.min_score for s in similar)
    assert [s["score"] for s in similar] == sorted((s["score"] for s in similar), reverse=True)
    assert any("relationship" in s["matched"] for s in similar), "the county's family mediations compare"
    assert sum(found["outcomes"].values()) == found["similar_total"]
    assert set(found["outcomes"]) <= {"agreement", "confirmed", "failed", "judgment", "enforcement"}
    success = found["outcomes"].get("agreement", 0) + found["outcomes"].get("confirmed", 0)
    assert found["success_rate"] == round(success / found["similar_total"], 4)
    # plain facts only: no case number, thread, person, name or ID number of anyone
    text = json.dumps({k: v for k, v in found.items() if k != "case_id"}, ensure_ascii=False)
    assert not IDENTIFYING.search(text), IDENTIFYING.search(text)
    assert not any(name in text for name in names_of(county))
    last = trail(county)[-1]
    assert (last["role"], last["purpose"], last["case_id"], last["subject"], last["decision"]) == \
        ("mediator", "dispute_mediation", INTAKE_CASE, "", "allowed")
    assert "case_metadata" in last["flags"] and not last["field_classes"] and not last["event_types"]


def test_callers_without_the_case_are_refused_and_audited(county: County, client: TestClient) -> None:
    # a mediation the county's committees concluded long ago: a mediator is bound to open cases only
    closed = next(c.case_id for c in county.services.cases.cases() if c.kind == "mediation" and not c.is_open)
    attempts = {
        "no case": (mediator(county, None), 403),
        "a concluded case": (mediator(county, closed), 403),
        "a judge on the mediation case": (headers(county.tokens["judge.demo"], role="judge", purpose="adjudication",
                                                  case=INTAKE_CASE), 403),
        "no token": ({k: v for k, v in mediator(county).items() if k != "Authorization"}, 401),
    }
    for what, (sent, status) in attempts.items():
        before = len(trail(county))
        response = client.get("/api/v1/case/similar", headers=sent)
        assert response.status_code == status, (what, response.text)
        assert "similar" not in response.json(), what
        assert len(trail(county)) == before + 1, f"{what}: the refusal is audited"
    reasons = [entry["reason"] for entry in trail(county)[-4:]]
    assert reasons[:3] == ["no_case", "case_closed", "wrong_case_kind"], reasons


def run(county: County, *args: str) -> Result:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": county.tokens["mediator.demo"]}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_the_command_line_gives_the_same_answer_with_the_server_up_and_down(county: County) -> None:
    officer = ("--as", "mediator", "--purpose", "dispute_mediation", "--case", INTAKE_CASE)
    with served(county.services, advertise_in_data_dir=True):
        up = run(county, "similar", *officer, "--json")
        text = run(county, "similar", *officer)
    down = run(county, "similar", *officer, "--json")
    for result in (up, text, down):
        assert result.exit_code == 0, result.output
    answer_up, answer_down = json.loads(up.output), json.loads(down.output)
    assert {k: v for k, v in answer_up.items() if k != "audit_seq"} == \
        {k: v for k, v in answer_down.items() if k != "audit_seq"}
    assert f"{answer_up['similar_total']} similar concluded disputes" in text.output
    assert "mediation success rate" in text.output and not IDENTIFYING.search(text.output.split("\n", 1)[1])
    refused = run(county, "similar", "--as", "mediator", "--purpose", "dispute_mediation")
    assert refused.exit_code == 1 and "refused: 403" in refused.output


@pytest.mark.browser
def test_the_page_shows_similar_cases_for_the_open_case(county: County, tmp_path: Path) -> None:
    with served(county.services) as url, chromium(tmp_path) as page:
        open_case_as(page, url, county.tokens["mediator.demo"], INTAKE_CASE)
        wait(page, lambda d: d.find_element(By.ID, "similar-open").is_displayed())
        page.find_element(By.ID, "similar-open").click()
        rows = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#similar-table tbody tr"))
        panel = page.find_element(By.ID, "similar-panel").text
        assert "婚姻家庭" in page.find_element(By.ID, "similar-facts").text
        assert "家庭成员" in panel and "调解成功率" in panel and "同类已结纠纷" in panel
        assert len(rows) >= 1 and page.find_elements(By.CSS_SELECTOR, "#similar-outcomes .bar-row")
        assert not IDENTIFYING.search(panel) and not any(name in panel for name in names_of(county))
        assert page.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "similar-cases.png", full_height=False)
        assert not console_errors(page)
    assert trail(county)[-1]["flags"] and "case_metadata" in trail(county)[-1]["flags"]
