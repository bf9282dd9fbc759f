"""Judicial confirmation and re-suing (司法确认, 反悔重诉), walked on a generated county: a mediation agreement,
its confirmation and its enforcement are one thread; every enforcement filed on a confirmation in the court's
export is flagged to the enforcement judge as an agreement not honoured (and nothing else is); when a party
goes back on a confirmed agreement and sues, the judge of the new lawsuit sees the agreement's case number,
its committee and the confirmation at once; the bureau counts both. Through the API, the command line (server
up, and down on the ClickHouse backend) and the page."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By

from hub.api.app import create_app
from hub.cli.main import cli
from hub.services.agreements import NOT_HONOURED, RESUED, Agreements
from hub.services.repeat_intake import RepeatIntakes
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, headers
from tests.support.browser import chromium, console_errors, open_case_as, screenshot, wait
from tests.support.records import publish_record
from tests.support.served import served


def court_rows(county_dir: Path) -> list[dict[str, str]]:
    with open(county_dir / "court" / "court_case_nodes.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def true_disputes(county_dir: Path) -> dict[str, str]:
    with open(county_dir / "truth" / "disputes.csv", encoding="utf-8", newline="") as f:
        return {row["record_key"]: row["true_dispute_id"] for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=1500)
    yield county
    county.close()


@pytest.fixture(scope="module")
def resuit(county: County) -> dict[str, Any]:
    """A confirmed agreement the county never enforced; its respondent sues the applicant over it."""
    records = RepeatIntakes(county.store).records(("MediationCaseOpened", "CaseFiled", "MediationAgreementConfirmed"))
    enforced = {r.related_case for r in records if r.event_type == "CaseFiled" and "执" in r.case_number}
    mediations = {r.case_number: r for r in records if r.event_type == "MediationCaseOpened"}
    confirmation = next(r for r in records if r.event_type == "MediationAgreementConfirmed" and r.outcome == "confirmed"
                        and r.case_number not in enforced and len(mediations[r.related_case].persons) >= 2)
    agreement = mediations[confirmation.related_case]
    applicant, respondent = sorted(agreement.persons)[:2]
    filed = confirmation.opened_at + timedelta(days=100)
    number = f"（{filed.year}）豫1730民初901号"
    publish_record(county, "court", "CaseFiled", "resuit", {
        "case_number": number, "case_type": "civil", "cause_of_action": agreement.dispute_type,
        "cause_detail": "", "claim_summary": None, "tribunal": "民事审判庭", "amount_yuan": 12000.0},
        [(respondent, "plaintiff"), (applicant, "defendant")], office_code="411730", office_name="清源县人民法院",
        occurred=filed)
    return {"confirmation": confirmation, "agreement": agreement, "number": number}


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


def judge(county: County, case: str) -> dict[str, str]:
    return headers(county.tokens["judge.demo"], role="judge", purpose="adjudication", case=case)


def test_every_enforced_confirmation_is_flagged_and_one_thread(county: County) -> None:
    rows = court_rows(county.data_dir / "county")
    confirmed = {r["案号"]: r["关联案号"] for r in rows if r["节点名称"] == "司法确认" and r["裁判结果"] != "驳回申请"}
    enforced = {(r["关联案号"], r["案号"]) for r in rows if r["节点名称"] == "立案" and "执" in r["案号"]
                and r["关联案号"] in confirmed}
    # a confirmation row whose ID numbers the connector refused (the export's noise) is a dead letter: it
    # never reached the hub, and neither can a flag on it
    received = {r.case_number for r in RepeatIntakes(county.store).records(("MediationAgreementConfirmed",))}
    assert received and received <= set(confirmed)
    enforced = {(c, e) for c, e in enforced if c in received}
    assert enforced, "the county enforces a confirmed agreement"
    flags = Agreements(county.store).flags()
    assert {(f.confirmation.case_number, f.case.case_number) for f in flags if f.kind == NOT_HONOURED} == enforced
    for flag in flags:
        if flag.kind == NOT_HONOURED:
            assert flag.agreement is not None and flag.agreement.case_number == confirmed[flag.confirmation.case_number]
            # the agreement, its confirmation and the enforcement are one dispute thread
            assert flag.agreement.thread == flag.confirmation.thread == flag.case.thread != ""
    # the generator's own 反悔重诉 (a lawsuit on the true dispute of a confirmed agreement) are all flagged
    truth = true_disputes(county.data_dir / "county")
    dispute_of_case = {r["案号"]: truth.get(r["流程节点ID"], "") for r in rows}
    resued = {(c, r["案号"]) for c in confirmed for r in rows if r["节点名称"] == "立案" and "民初" in r["案号"]
              and dispute_of_case.get(r["案号"]) and dispute_of_case[r["案号"]] == dispute_of_case[c]
              and r["节点日期"] > next(x["节点日期"] for x in rows if x["案号"] == c)}
    assert resued <= {(f.confirmation.case_number, f.case.case_number) for f in flags if f.kind == RESUED}


def test_the_judge_of_the_new_lawsuit_sees_the_confirmed_agreement(county: County, client: TestClient,
                                                                    resuit: dict[str, Any]) -> None:
    response = client.get("/api/v1/case/warnings", headers=judge(county, resuit["number"]))
    assert response.status_code == 200, response.text
    flags = [w for w in response.json()["warnings"] if w["kind"] == RESUED]
    assert len(flags) == 1
    [flag] = flags
    agreement, confirmation = resuit["agreement"], resuit["confirmation"]
    assert (flag["case_number"], flag["office_name"], flag["confirmation_number"]) == \
        (agreement.case_number, agreement.office_name, confirmation.case_number)
    assert flag["confirmation_office"] == "清源县人民法院" and flag["confirmed_local"]


def test_the_enforcement_judge_sees_the_agreement_was_not_honoured(county: County, client: TestClient) -> None:
    flag = next(f for f in Agreements(county.store).flags() if f.kind == NOT_HONOURED)
    response = client.get("/api/v1/case/warnings", headers=judge(county, flag.case.case_number))
    assert response.status_code == 200, response.text
    assert [(w["kind"], w["confirmation_number"]) for w in response.json()["warnings"]] == \
        [(NOT_HONOURED, flag.confirmation.case_number)]


def test_the_bureau_counts_both(county: County, client: TestClient, resuit: dict[str, Any]) -> None:
    board = client.get("/api/v1/dashboard", headers=headers(county.tokens["bureau.demo"], role="bureau_officer",
                                                            purpose="statistics")).json()
    rows = {r["agencies"]: r for r in board["sections"]["warnings"]}
    assert {RESUED, NOT_HONOURED} <= set(rows)
    for kind in (RESUED, NOT_HONOURED):   # counted, shown as <5 when small
        assert rows[kind]["raised"] is None or rows[kind]["raised"] >= board["min_cell"]
    assert resuit["number"] not in json.dumps(board, ensure_ascii=False)


def run(county: County, *args: str) -> Result:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": county.tokens["judge.demo"]}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_the_command_line_flags_it_with_the_server_up_and_down(county: County, resuit: dict[str, Any]) -> None:
    judging = ("--as", "judge", "--purpose", "adjudication", "--case", resuit["number"])
    with served(county.services, advertise_in_data_dir=True):
        up = run(county, "intake-check", *judging, "--json")
        text = run(county, "intake-check", *judging)
    down = run(county, "intake-check", *judging, "--json")
    for result in (up, text, down):
        assert result.exit_code == 0, result.output
    assert json.loads(up.output)["warnings"] == json.loads(down.output)["warnings"]
    assert f"{RESUED}: agreement {resuit['agreement'].case_number}" in text.output
    assert resuit["confirmation"].case_number in text.output


@pytest.mark.browser
def test_the_page_shows_the_judge_the_confirmed_agreement(county: County, tmp_path: Path,
                                                          resuit: dict[str, Any]) -> None:
    with served(county.services) as url, chromium(tmp_path) as page:
        open_case_as(page, url, county.tokens["judge.demo"], resuit["number"])
        banner = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#repeat-warnings .repeat-warning"))
        text = " ".join(b.text for b in banner)
        assert "司法确认后反悔重诉" in text and resuit["agreement"].case_number in text
        assert resuit["confirmation"].case_number in text
        screenshot(page, "resuing-after-confirmation.png", full_height=False)
        assert not console_errors(page)
