"""Repeat-mediation warnings at intake, walked on a generated county. The county's lending disputes include
creditors who sue while a village committee still mediates (两头跑): the hub warns of exactly such overlaps,
as the exports and the generator's truth show them, and of no court delegation (法院委派). Then the demo
mediator takes in a dispute that the county court has in hand: at once she sees the court's case (office,
number, stage, open) and the judge sees hers; a committee the court delegated a case to is not warned; the
bureau counts the warning. Through the API, the command line (server up, and down on the ClickHouse backend)
and the page."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By

from consent.access.audit import decode_record, read_trail
from hub.api.app import create_app
from hub.cli.main import cli
from hub.services.repeat_intake import RepeatIntakes
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, headers
from tests.support.browser import chromium, console_errors, open_case_as, screenshot, wait
from tests.support.records import publish_record
from tests.support.served import served

INTAKE = "（2025）城关调字第901号"
DELEGATED = "（2025）城关调字第902号"


@dataclass
class ExportIntake:
    number: str
    opened: date
    closed: date | None
    persons: frozenset[str]
    dispute: str
    refers_to: str


def export_intakes(county_dir: Path) -> list[ExportIntake]:
    """Mediation cases and 民初 lawsuits as the agencies exported them, with the generator's truth: the true
    persons and dispute of each row. Read from the files, not through the hub."""
    persons: dict[str, set[str]] = defaultdict(set)
    disputes: dict[str, str] = {}
    with open(county_dir / "truth" / "persons.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["true_person_id"].startswith("P"):
                persons[row["record_key"]].add(row["true_person_id"])
    with open(county_dir / "truth" / "disputes.csv", encoding="utf-8", newline="") as f:
        disputes = {row["record_key"]: row["true_dispute_id"] for row in csv.DictReader(f)}
    found: dict[str, dict[str, Any]] = {}

    def note(number: str, key: str, step: str, day: str, refers: str) -> None:
        item = found.setdefault(number, {"opened": None, "closed": None, "persons": set(), "dispute": "",
                                         "refers": ""})
        when = date.fromisoformat(day.replace("/", "-")[:10])
        if step == "open":
            item.update(opened=when, dispute=disputes.get(key, ""), refers=refers)
            item["persons"] |= persons[key]
        elif item["closed"] is None or when < item["closed"]:
            item["closed"] = when

    with open(county_dir / "justice" / "mediation_cases.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            note(row["调解案件编号"], row["记录ID"], "open" if row["环节"] == "受理" else "close", row["环节日期"],
                 row["来源单号"])
    with open(county_dir / "court" / "court_case_nodes.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if "民初" in row["案号"] and row["节点名称"] in ("立案", "结案"):
                note(row["案号"], row["流程节点ID"], "open" if row["节点名称"] == "立案" else "close",
                     row["节点日期"], row["关联案号"])
    return [ExportIntake(n, i["opened"], i["closed"], frozenset(i["persons"]), i["dispute"], i["refers"])
            for n, i in found.items() if i["opened"] is not None]


def overlapping(a: ExportIntake, b: ExportIntake) -> bool:
    """b taken in (that day) while a was open, sharing a person, neither naming the other."""
    return (a.opened <= b.opened and (a.closed is None or b.opened <= a.closed) and bool(a.persons & b.persons)
            and b.refers_to != a.number and a.refers_to != b.number)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=1500)
    yield county
    county.close()


def open_lawsuits(county: County) -> list[Any]:
    """The county court's civil cases still open at the export's end, between two persons."""
    return sorted((c for c in county.services.cases.cases() if c.kind == "court" and c.is_open
                   and "民初" in c.case_id and len([p for p in c.parties if p.startswith("P")]) >= 2),
                  key=lambda c: c.case_id)


def dispute_type_of(county: County, case_number: str) -> str:
    rows = county.store.query_rows("SELECT dispute_type FROM event_facts FINAL WHERE case_number = {c:String} "
                                   "AND event_type = 'CaseFiled'", {"c": case_number})
    return str(rows[0][0])


@pytest.fixture(scope="module")
def lawsuits(county: County) -> tuple[Any, Any]:
    """The mediator's walk-in intake on the first open lawsuit's dispute; a committee the court delegates the
    second open lawsuit to (法院委派, naming the lawsuit)."""
    found = open_lawsuits(county)
    assert len(found) >= 2, "the generated county has two open civil lawsuits between persons"
    sued, delegated = found[0], found[1]
    for number, lawsuit, source in ((INTAKE, sued, "walk_in"), (DELEGATED, delegated, "court_referral")):
        related = [{"agency": "court", "record_type": "CaseFiled", "record_id": lawsuit.case_id,
                    "relation": "referred_from"}] if source == "court_referral" else []
        publish_record(county, "justice", "MediationCaseOpened", f"repeat-{number}", {
            "mediation_case_number": number, "level": "township", "committee": county.committee, "source": source,
            "dispute_type": dispute_type_of(county, lawsuit.case_id), "summary": None},
            [(p, "mediation_party") for p in sorted(lawsuit.parties) if p.startswith("P")],
            office_code="411730", office_name=county.committee, occurred=lawsuit.opened_at + timedelta(days=7),
            related=related)
    return sued, delegated


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


def mediator(county: County, case: str) -> dict[str, str]:
    return headers(county.tokens["mediator.demo"], case=case)


def judge(county: County, case: str) -> dict[str, str]:
    return headers(county.tokens["judge.demo"], role="judge", purpose="adjudication", case=case)


def test_the_county_warns_of_its_own_two_way_disputes_and_of_nothing_else(county: County) -> None:
    exported = {i.number: i for i in export_intakes(county.data_dir / "county")}
    warned = {(w.earlier.case_number, w.later.case_number) for w in RepeatIntakes(county.store).warnings()}
    # the creditors who sued while the committee mediated: one true dispute, a mediation and a lawsuit
    two_way = {(a.number, b.number) for a in exported.values() for b in exported.values()
               if a.number != b.number and a.dispute and a.dispute == b.dispute and overlapping(a, b)
               and "民初" in b.number and "调字" in a.number and a.opened < b.opened}
    assert two_way, "the generator's 两头跑 lending disputes"
    assert two_way <= warned
    # every warning is an overlap the exports show (sharing a person, neither naming the other)
    assert all(a in exported and b in exported and overlapping(exported[a], exported[b]) for a, b in warned)
    # a court's delegation to a committee is a hand-over, never a warning
    delegations = {(a.number, b.number) for a in exported.values() for b in exported.values()
                   if b.refers_to == a.number and "民初" in a.number}
    assert delegations and not delegations & warned


def test_both_handlers_see_the_other_case_at_once(county: County, client: TestClient,
                                                  lawsuits: tuple[Any, Any]) -> None:
    sued, _ = lawsuits
    mine = client.get("/api/v1/case/warnings", headers=mediator(county, INTAKE))
    assert mine.status_code == 200, mine.text
    [warning] = mine.json()["warnings"]
    assert warning["kind"] == "repeat_intake"
    assert (warning["case_number"], warning["agency"], warning["office_name"], warning["open"]) == \
        (sued.case_id, "court", "清源县人民法院", True)
    assert warning["stage"] in ("court_filing", "service", "hearing") and warning["taken_in"] == "earlier"
    assert warning["why"] in ("same_thread", "same_parties") and warning["shared_parties"] >= 2
    theirs = client.get("/api/v1/case/warnings", headers=judge(county, sued.case_id))
    assert theirs.status_code == 200, theirs.text
    [back] = theirs.json()["warnings"]
    assert (back["case_number"], back["agency"], back["office_name"], back["stage"], back["taken_in"]) == \
        (INTAKE, "justice", county.committee, "mediation", "later")
    records, _ = read_trail(county.hub.log)
    last = decode_record(records[-1])
    assert (last["role"], last["case_id"], last["decision"]) == ("judge", sued.case_id, "allowed")
    assert "case_metadata" in last["flags"] and not last["field_classes"]


def test_a_court_delegation_is_not_a_repeat(county: County, client: TestClient,
                                            lawsuits: tuple[Any, Any]) -> None:
    _, delegated = lawsuits
    for sent in (mediator(county, DELEGATED), judge(county, delegated.case_id)):
        response = client.get("/api/v1/case/warnings", headers=sent)
        assert response.status_code == 200, response.text
        assert response.json()["warnings"] == []


def test_callers_without_the_case_are_refused(county: County, client: TestClient,
                                              lawsuits: tuple[Any, Any]) -> None:
    sued, _ = lawsuits
    assert client.get("/api/v1/case/warnings", headers=headers(county.tokens["mediator.demo"])).status_code == 403
    # the mediator cannot read the court's case as if it were hers
    assert client.get("/api/v1/case/warnings", headers=mediator(county, sued.case_id)).status_code == 403
    assert client.get("/api/v1/case/warnings").status_code == 401


def test_the_bureau_counts_the_warning(county: County, client: TestClient, lawsuits: tuple[Any, Any]) -> None:
    board = client.get("/api/v1/dashboard", headers=headers(county.tokens["bureau.demo"], role="bureau_officer",
                                                            purpose="statistics"))
    assert board.status_code == 200, board.text
    rows = {r["agencies"]: r for r in board.json()["sections"]["warnings"]}
    warned = RepeatIntakes(county.store).warnings()
    assert sum(1 for w in warned if (w.earlier.agency, w.later.agency) == ("court", "justice")) >= 1
    total = len(warned)
    summary = board.json()["summary"]["repeat_warnings"]
    assert summary == (total if total >= board.json()["min_cell"] else None)  # a small count shows as <5, not 0
    assert set(rows) <= {"justice>justice", "justice>court", "court>justice", "court>court",
                         "resued_after_confirmation", "agreement_not_honoured"}
    text = json.dumps(board.json(), ensure_ascii=False)
    assert INTAKE not in text and lawsuits[0].case_id not in text


def run(county: County, *args: str) -> Result:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": county.tokens["mediator.demo"]}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_the_command_line_warns_with_the_server_up_and_down(county: County, lawsuits: tuple[Any, Any]) -> None:
    officer = ("--as", "mediator", "--purpose", "dispute_mediation", "--case", INTAKE)
    with served(county.services, advertise_in_data_dir=True):
        up = run(county, "intake-check", *officer, "--json")
        text = run(county, "intake-check", *officer)
    down = run(county, "intake-check", *officer, "--json")
    for result in (up, text, down):
        assert result.exit_code == 0, result.output
    assert json.loads(up.output)["warnings"] == json.loads(down.output)["warnings"]
    assert f"WARNING case {INTAKE}: also at court 清源县人民法院 {lawsuits[0].case_id}" in text.output
    quiet = run(county, "intake-check", "--as", "mediator", "--purpose", "dispute_mediation", "--case", DELEGATED)
    assert quiet.exit_code == 0 and "no other office has this dispute in hand" in quiet.output


@pytest.mark.browser
def test_the_page_warns_the_mediator_when_she_opens_the_case(county: County, tmp_path: Path,
                                                              lawsuits: tuple[Any, Any]) -> None:
    with served(county.services) as url, chromium(tmp_path) as page:
        open_case_as(page, url, county.tokens["mediator.demo"], INTAKE)
        banner = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#repeat-warnings .repeat-warning"))
        text = banner[0].text
        assert "重复调解预警" in text and lawsuits[0].case_id in text and "清源县人民法院" in text and "在办" in text
        screenshot(page, "repeat-intake-warning.png", full_height=False)
        # the delegated case shows none
        page.find_element(By.ID, "case-id").clear()
        page.find_element(By.ID, "case-id").send_keys(DELEGATED)
        page.find_element(By.ID, "open-case").click()
        wait(page, lambda d: DELEGATED in d.find_element(By.ID, "case-box").text)
        wait(page, lambda d: not d.find_element(By.ID, "repeat-warnings").is_displayed())
        assert not console_errors(page)
