"""A party's view of their own case and "who looked at me", walked on a generated county: the mediator
gives a party of her open case an access code at intake (API, command line, page); the party signs in
with it and sees the stages of their dispute across agencies — nothing of the other party, a sealed
record only as "a restricted record exists", a covert one not at all — and who looked at their data,
with a covert police look-up withheld (and counted for the DPO) until its restriction lifts. Guessing
codes, reusing a revoked one and posing as an officer are refused and audited."""

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
from consent.access.party_codes import normalise_code
from hub.api.app import create_app
from hub.cli.main import cli
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, headers, mediator_headers, party_of
from tests.support.browser import chromium, console_errors, open_case_as, screenshot, wait
from tests.support.records import publish_record
from tests.support.served import served

PERSON_ID = re.compile(r"P[0-9a-f]{16}")
COVERT_INCIDENT = "J411730010000202606010001"
SEALED_CASE = "（2026）豫1730刑初901号"
INTAKE_CASE = "（2026）城关调字第901号"


def latest_shared_incident(county: County) -> tuple[str, datetime]:
    """The pair's newest police incident (both parties on it): the dispute the intake case takes over."""
    rows = county.store.query_rows(
        "SELECT f.case_number, max(f.occurred_at) FROM timeline AS t FINAL INNER JOIN event_facts AS f FINAL "
        "ON f.event_id = t.event_id WHERE t.event_type = 'IncidentReported' AND t.person_id IN {p:Array(String)} "
        "GROUP BY f.case_number HAVING uniqExact(t.person_id) = 2 ORDER BY max(f.occurred_at) DESC LIMIT 1",
        {"p": county.parties})
    return str(rows[0][0]), rows[0][1].replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=300)
    me, other = county.parties
    # The mediator's intake: a mediation case the police referred (it names their newest incident), so the
    # party's dispute runs police -> mediation (and on through the court where the county's records go).
    incident, at = latest_shared_incident(county)
    publish_record(county, "justice", "MediationCaseOpened", "intake", {
        "mediation_case_number": INTAKE_CASE, "level": "township", "committee": county.committee,
        "source": "police_referral", "dispute_type": "marriage_family", "summary": None},
        [(me, "mediation_party"), (other, "mediation_party")], office_code="411730", office_name=county.committee,
        occurred=at + timedelta(days=3),
        related=[{"agency": "police", "record_type": "IncidentReported", "record_id": incident,
                  "relation": "refers_to"}])
    county.case = INTAKE_CASE
    # A sealed juvenile record on the party's dispute (it names the mediation case), and a covert police
    # investigation about the party, opened at the demo officer's station.
    publish_record(county, "court", "CaseFiled", "sealed", {
        "case_number": SEALED_CASE, "case_type": "criminal", "cause_of_action": "marriage_family",
        "cause_detail": "故意伤害罪", "claim_summary": None, "tribunal": "刑事审判庭"}, [(me, "victim")],
        office_code="411730", office_name="清源县人民法院", restriction={"kind": "juvenile_sealed", "until": None},
        related=[{"agency": "justice", "record_type": "MediationCaseOpened", "record_id": county.case,
                  "relation": "refers_to"}])
    publish_record(county, "police", "IncidentReported", "covert", {
        "incident_number": COVERT_INCIDENT, "category": "fraud", "dispute_type": None, "location": None,
        "summary": None}, [(me, "suspect")], office_code="411730010000", office_name="城关派出所",
        restriction={"kind": "covert", "until": datetime.now(UTC) + timedelta(days=1)})
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


@pytest.fixture(scope="module")
def code(county: County, client: TestClient) -> str:
    response = client.post("/api/v1/case/party-codes", json={"person_id": county.parties[0]},
                           headers=mediator_headers(county))
    assert response.status_code == 200, response.text
    issued = response.json()
    assert issued["person_id"] == county.parties[0] and issued["case_id"] == county.case
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}", issued["code"])
    return issued["code"]


def sign_in(client: TestClient, code: str) -> dict[str, str]:
    response = client.post("/api/v1/party/sign-in", json={"code": code})
    assert response.status_code == 200, response.text
    return {"Authorization": "Party " + response.json()["session"]}


def trail(county: County) -> list[dict[str, Any]]:
    records, _ = read_trail(county.hub.log)
    return [decode_record(r) for r in records]


def test_the_party_sees_the_stages_of_their_own_dispute_and_nothing_of_the_other(county: County,
                                                                                client: TestClient,
                                                                                code: str) -> None:
    mine = client.get("/api/v1/party/case", headers=sign_in(client, code.lower().replace("-", " "))).json()
    assert mine["case_id"] == county.case and mine["case_open"] is True
    steps = [s for s in mine["steps"] if not s["restricted"]]
    assert any(s["case_number"] == county.case and s["stage"] == "mediation" for s in steps)
    assert len({s["agency"] for s in steps}) >= 2, "the dispute crosses agencies"
    assert all(s["my_role"] and s["office_name"] and s["occurred_local"] for s in steps)
    times = [s["occurred_at"] for s in steps]
    assert times == sorted(times)
    # the sealed juvenile record shows only that it exists; the covert incident not at all
    sealed = [s for s in mine["steps"] if s["restricted"]]
    assert len(sealed) == 1 and set(sealed[0]) == {"restricted", "occurred_local"}
    text = json.dumps(mine, ensure_ascii=False)
    assert SEALED_CASE not in text and COVERT_INCIDENT not in text and "fraud" not in text
    assert not PERSON_ID.search(text), "no person id, not even the party's own"
    for person in county.parties:
        party = party_of(county.store, county.services, person)
        for field in ("name", "id_number", "phone", "address"):
            assert not party.get(field) or party[field] not in text
    last = trail(county)[-1]
    assert (last["user"][:8], last["role"], last["purpose"], last["subject"], last["case_id"]) == \
        ("party:PC", "party", "own_case", county.parties[0], county.case)


def test_who_looked_at_me_withholds_the_covert_look_up_and_counts_it_for_the_dpo(county: County,
                                                                                 client: TestClient,
                                                                                 code: str) -> None:
    me = county.parties[0]
    assert client.get(f"/api/v1/persons/{me}/history", headers=mediator_headers(county)).status_code == 200
    police = headers(county.tokens["police.demo"], role="police_officer", purpose="risk_prevention",
                     case=COVERT_INCIDENT)
    assert client.get(f"/api/v1/persons/{me}/history", headers=police).status_code == 200
    judge = headers(county.tokens["judge.demo"], role="judge", purpose="adjudication", case=county.case)
    assert client.get(f"/api/v1/persons/{me}/history", headers=judge).status_code == 403
    seen = client.get("/api/v1/party/accesses", headers=sign_in(client, code)).json()
    rows = seen["accesses"]
    assert rows == sorted(rows, key=lambda a: a["at"], reverse=True)
    mediator = [a for a in rows if a["role"] == "mediator"]
    assert mediator and mediator[0]["decision"] == "allowed" and mediator[0]["purpose"] == "dispute_mediation"
    assert mediator[0]["agency"] == "justice" and mediator[0]["case_id"] == county.case
    assert any(a["role"] == "judge" and a["decision"] == "denied" for a in rows)
    assert not [a for a in rows if a["role"] == "police_officer"], "the covert look-up is withheld"
    assert COVERT_INCIDENT not in json.dumps(seen, ensure_ascii=False)
    last = trail(county)[-1]
    assert "subject_report_withheld" in last["flags"] and last["hidden_restricted"] >= 1
    report = client.get("/api/v1/audit/report", headers=headers(county.tokens["dpo.demo"], role="dpo",
                                                                 purpose="audit")).json()
    assert report["summary"]["withheld_from_subjects"] >= 1


def test_the_covert_look_up_shows_once_the_restriction_lifts(county: County, client: TestClient, code: str) -> None:
    """The covert investigation's restriction runs until tomorrow: the day after, the party sees the look-up."""
    today = county.services.clock
    county.services.clock = lambda: datetime.now(UTC) + timedelta(days=2)
    try:
        rows = client.get("/api/v1/party/accesses", headers=sign_in(client, code)).json()["accesses"]
    finally:
        county.services.clock = today
    police = [a for a in rows if a["role"] == "police_officer"]
    assert police and police[0]["purpose"] == "risk_prevention" and police[0]["agency"] == "police"


def test_codes_are_refused_when_guessed_revoked_or_issued_out_of_reach(county: County, client: TestClient,
                                                                       code: str) -> None:
    wrong = client.post("/api/v1/party/sign-in", json={"code": "0000-0000-0000"})
    assert wrong.status_code == 401 and wrong.json()["error"]["reason"] == "unknown_code"
    assert client.get("/api/v1/party/case").status_code == 401
    assert client.get("/api/v1/party/case", headers={"Authorization": "Party jp_forged"}).status_code == 401
    stranger = client.post("/api/v1/case/party-codes", json={"person_id": county.stranger},
                           headers=mediator_headers(county))
    assert stranger.status_code == 403 and stranger.json()["error"]["reason"] == "not_party"
    # a second code for the same party revokes the first, and its open sessions
    session = sign_in(client, code)
    again = client.post("/api/v1/case/party-codes", json={"person_id": county.parties[0]},
                        headers=mediator_headers(county)).json()["code"]
    assert normalise_code(again) != normalise_code(code)
    old = client.post("/api/v1/party/sign-in", json={"code": code})
    assert old.status_code == 401 and old.json()["error"]["reason"] == "revoked_code"
    assert client.get("/api/v1/party/case", headers=session).json()["error"]["reason"] == "revoked_code"
    assert client.get("/api/v1/party/case", headers=sign_in(client, again)).status_code == 200
    reasons = [r["reason"] for r in trail(county) if r["role"] == "party" and r["status"] == 401]
    assert {"unknown_code", "unknown_session", "revoked_code"} <= set(reasons)
    assert all(code.replace("-", "") not in json.dumps(r) for r in trail(county))


def test_guessing_codes_is_refused_after_ten_tries(county: County) -> None:
    with TestClient(create_app(county.services), client=("203.0.113.9", 5000)) as guesser:
        answers = [guesser.post("/api/v1/party/sign-in", json={"code": f"ZZZZ-ZZZZ-ZZ{i:02d}"}).status_code
                   for i in range(12)]
    assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]


def run(county: County, *args: str, stdin: str | None = None, token: str | None = None) -> Result:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": token or county.tokens["mediator.demo"]}
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


def test_the_command_line_gives_codes_and_reads_them_with_the_server_up_and_down(county: County) -> None:
    officer = ("--as", "mediator", "--purpose", "dispute_mediation", "--case", county.case)
    with served(county.services, advertise_in_data_dir=True):
        issued = run(county, "party", "issue-code", county.parties[1], *officer, "--json")
        assert issued.exit_code == 0, issued.output
        code = json.loads(issued.output)["code"]
        up = [run(county, "party", "case", "--code", "-", "--json", stdin=code + "\n"),
              run(county, "party", "accesses", "--code", "-", stdin=code + "\n")]
    down = [run(county, "party", "case", "--code", "-", "--json", stdin=code + "\n"),
            run(county, "party", "accesses", "--code", "-", stdin=code + "\n")]
    for result in up + down:
        assert result.exit_code == 0, result.output
    mine_up, mine_down = json.loads(up[0].output), json.loads(down[0].output)
    assert mine_up["steps"] == mine_down["steps"] and mine_up["case_id"] == county.case
    assert "mediator" in up[1].output and "dispute_mediation" in up[1].output
    assert up[1].output == down[1].output
    bad = run(county, "party", "case", "--code", "-", stdin="0000-0000-0000\n")
    assert bad.exit_code == 1 and "401 unknown_code" in bad.output


@pytest.mark.browser
def test_the_pages_give_the_code_and_show_the_party_their_case(county: County, tmp_path: Path) -> None:
    with served(county.services) as url, chromium(tmp_path) as page:
        open_case_as(page, url, county.tokens["mediator.demo"], county.case)
        cards = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#case-parties button.card"))
        next(c for c in cards if c.get_attribute("data-person") == county.parties[0]).click()
        wait(page, lambda d: d.find_element(By.ID, "issue-party-code").is_displayed())
        page.find_element(By.ID, "issue-party-code").click()
        code = wait(page, lambda d: d.find_elements(By.ID, "party-code-value"))[0].text
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
        screenshot(page, "party-code-issued.png", full_height=False)

        page.get(url + "/my")
        assert "当事人查询" in page.title
        wait(page, lambda d: d.find_element(By.ID, "code").is_displayed())
        page.find_element(By.ID, "code").send_keys(code.lower())
        page.find_element(By.ID, "sign-in-button").click()
        wait(page, lambda d: d.find_element(By.ID, "workspace").get_attribute("data-loaded"))
        steps = page.find_element(By.ID, "steps").text
        assert county.case in steps and "人民调解受理" in steps and "我的身份" in steps
        assert "存在一条依法受限的记录" in steps and SEALED_CASE not in steps
        accesses = page.find_element(By.ID, "accesses").text
        assert "人民调解员" in accesses and "纠纷调解" in accesses
        assert not PERSON_ID.search(page.page_source)
        assert page.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "party-view.png")
        assert not console_errors(page)
        since = datetime.now(UTC) - timedelta(minutes=10)
        assert since  # the page's reads are on the trail
        assert trail(county)[-1]["role"] == "party"
