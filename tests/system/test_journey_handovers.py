"""Released prisoners' hand-over loop (必接必送), walked on a generated prefecture of two counties. The prisons'
release notices are routed to the justice office of each person's registered residence — the other county's
for a person sentenced here who lives there — and the offices' receipts close them: the hub's hand-overs
(received in time, late, never) are exactly what the exports and the generator's truth say; every notice
not received within the rule's 7 days raises the red alert `released_prisoner_not_received`, and no other
does; the receiving office's resettlement officer sees it on the hand-over; the bureau sees the hand-over
rate by county and every open hand-over, cross-county ones from both ends, through the API, the command line
(server down, on the ClickHouse backend) and the page."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By

from connectors.county import county_sources
from connectors.registry import get_connector
from connectors.sdk.runtime import ConnectorRunner
from connectors.synthetic.generator import generate
from consent.access.audit import decode_record, read_trail
from consent.access.users import UserRegistry, create_demo_users
from consent.privacy.keys import init_keystore
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.cli.main import cli
from hub.services.context import AppServices
from hub.services.handovers import RULE, Handovers
from runtime.clock import local_date
from runtime.settings import Settings
from runtime.topics import AGENCIES
from runtime.viewstore import ViewStore, open_view_store
from tests.support import chdb_data_dir, chdb_http_server, unique_database
from tests.support.api_county import headers
from tests.support.browser import chromium, console_errors, screenshot, wait
from tests.support.served import served

COUNTIES = ("411730", "411731")
DAYS = 7


class Prefecture:
    def __init__(self, data_dir: Path, hub: Hub, store: ViewStore, services: AppServices,
                 tokens: dict[str, str]) -> None:
        self.data_dir, self.hub, self.store, self.services, self.tokens = data_dir, hub, store, services, tokens


@pytest.fixture(scope="module")
def prefecture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prefecture]:
    data_dir = tmp_path_factory.mktemp("prefecture")
    settings = Settings(data_dir=data_dir, clickhouse_database=unique_database("handovers"))
    init_keystore(data_dir, None)
    generate(data_dir / "exports", 8000, 11, counties=2)
    hub = Hub(settings)
    store = open_view_store(settings.model_copy(update={"data_dir": chdb_data_dir()}))
    store.migrate()
    hub.__dict__["view_store"] = store
    for agency in AGENCIES:
        connector = get_connector(agency)
        runner = ConnectorRunner(connector, hub.log, hub.protector, hub.connector_state, progress=False)
        for source in county_sources(connector, data_dir / "exports"):
            runner.run(source)
    hub.process_until_idle(tick=True)   # today's clock: every deadline of the historic exports has passed
    hub.project_until_idle()
    services = AppServices.build(settings, hub.log, store, hub.protector)
    with UserRegistry.open(data_dir) as registry:
        tokens = {t.user_id: t.token for t in create_demo_users(registry)}
        registry.create_user("bureau.prefecture", roles=["bureau_officer"], organisation="justice:驻马店市司法局",
                             offices=COUNTIES)
        tokens["bureau.prefecture"] = registry.issue_token("bureau.prefecture").token
        registry.create_user("resettle.linxi", roles=["correction_officer"], organisation="justice:城关司法所",
                             offices=("城关司法所", "411731"))   # 临溪县's 城关司法所 (every county has one)
        tokens["resettle.linxi"] = registry.issue_token("resettle.linxi").token
    yield Prefecture(data_dir, hub, store, services, tokens)
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    services.close()
    hub.close()


def _day(text: str) -> date:
    return date.fromisoformat(text.replace("/", "-")[:10])


def truth(exports: Path, received: set[str]) -> dict[str, dict[str, Any]]:
    """Every notice as the files say it: receiving county and office, release day, the sentencing county (when
    the judgment is in a county's court export), and the first receipt of the same true person (day), read
    from the exports and the generator's truth, not through the hub. A row whose ID number the connector
    refused (the exports' noise: a typo that makes an impossible birth date) is a dead letter, never in the
    hub: only the records in `received` (their numbers) count."""
    persons: dict[tuple[str, str], str] = {}
    with open(exports / "truth" / "persons.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            persons[(row["county"], row["record_key"])] = row["true_person_id"]
    notices: dict[str, dict[str, Any]] = {}
    receipts: dict[str, list[date]] = defaultdict(list)
    courts: dict[str, str] = {}
    for code in COUNTIES:
        with open(exports / code / "court" / "court_case_nodes.csv", encoding="utf-8", newline="") as f:
            courts.update({row["案号"]: code for row in csv.DictReader(f) if row["案号"] in received})
        with open(exports / code / "justice" / "release_notices.csv", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if row["通知书编号"] not in received:
                    continue
                notices[row["通知书编号"]] = {"county": row["接收地区划代码"], "office": row["接收司法所"],
                                          "released": _day(row["释放日期"]), "judgment": row["原判案号"],
                                          "person": persons[(code, row["通知书编号"])]}
        with open(exports / code / "justice" / "released_prisoners.csv", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if row["衔接编号"] in received:
                    receipts[persons[(code, row["衔接编号"])]].append(_day(row["接收日期"]))
    for n in notices.values():
        later = sorted(d for d in receipts[n["person"]] if d >= n["released"])
        n["received"] = later[0] if later and (later[0] - n["released"]).days <= 180 else None
        n["sentenced_in"] = courts.get(n["judgment"], "")
    return notices


def expected_status(n: dict[str, Any]) -> str:
    if n["received"] is None:
        return "open"
    return "received_in_time" if (n["received"] - n["released"]).days <= DAYS else "received_late"


@pytest.fixture(scope="module")
def notices(prefecture: Prefecture) -> dict[str, dict[str, Any]]:
    received = {str(n) for (n,) in prefecture.store.query_rows("SELECT DISTINCT case_number FROM event_facts FINAL")}
    found = truth(prefecture.data_dir / "exports", received)
    kinds = Counter(expected_status(n) for n in found.values())
    assert len(found) >= 40 and kinds["open"] >= 2 and kinds["received_late"] >= 2, kinds
    assert sum(1 for n in found.values() if n["sentenced_in"] and n["sentenced_in"] != n["county"]) >= 5
    return found


def test_every_notice_is_routed_and_matched_to_its_receipt_as_the_exports_say(prefecture: Prefecture,
                                                                              notices: dict[str, Any]) -> None:
    handovers = {h.notice_number: h for h in Handovers(prefecture.store).all()}
    assert set(handovers) == set(notices)
    now = datetime.now().astimezone()
    for number, n in notices.items():
        h = handovers[number]
        assert (h.county, h.office_name, local_date(h.released_at)) == (n["county"], n["office"], n["released"])
        assert h.sentenced_in == n["sentenced_in"], number
        status = h.status(now)
        assert (status if status != "open_overdue" else "open") == expected_status(n), number
        if n["received"] is not None:
            assert local_date(h.received_at) == n["received"], number
    # cross-county: routed to the registered residence's county, away from the sentencing county's export
    crossing = [h for h in handovers.values() if h.cross_county]
    assert {h.county for h in crossing} == set(COUNTIES)


def test_a_red_alert_for_every_notice_not_received_within_7_days_and_for_no_other(prefecture: Prefecture,
                                                                                 notices: dict[str, Any]) -> None:
    facts = dict(prefecture.store.query_rows(
        "SELECT case_number, event_id FROM event_facts FINAL WHERE event_type = 'ReleaseNoticeIssued'"))
    rows = prefecture.store.query_rows("SELECT evidence, level, role, status FROM alerts FINAL "
                                       "WHERE rule = {r:String} AND is_deleted = 0", {"r": RULE})
    assert {(level, role) for _, level, role, _ in rows} == {("red", "correction_officer")}
    # (the notices file is read before the receipts file: a notice's deadline may pass on the justice feed before
    # its receipt is read, and the receipt, dated in time, then closes that alert as superseded)
    alerted = {str(evidence[0]) for evidence, _, _, status in rows if status == "open"}
    for number, n in notices.items():
        assert (facts[number] in alerted) == (expected_status(n) != "received_in_time"), number


def test_the_receiving_office_sees_the_red_alert_on_the_hand_over(prefecture: Prefecture,
                                                                   notices: dict[str, Any]) -> None:
    """The notice opens the hand-over at the receiving office (a resettlement case): its officer, bound to it,
    sees the person's red alert; an officer of another office is refused."""
    number = next(k for k, n in sorted(notices.items()) if expected_status(n) == "open"
                  and n["office"] == "城关司法所" and n["county"] == "411730")
    with TestClient(create_app(prefecture.services)) as client:
        seen = client.get("/api/v1/alerts", headers=headers(
            prefecture.tokens["correction.demo"], role="correction_officer",
            purpose="community_correction_supervision", case=number))
        assert seen.status_code == 200, seen.text
        assert [a["rule"] for a in seen.json()["alerts"]].count(RULE) == 1
        elsewhere = next(k for k, n in sorted(notices.items()) if n["office"] != "城关司法所")
        refused = client.get("/api/v1/alerts", headers=headers(
            prefecture.tokens["correction.demo"], role="correction_officer",
            purpose="community_correction_supervision", case=elsewhere))
        assert refused.status_code == 403 and refused.json()["error"]["reason"] == "not_supervising_office"


def test_the_office_lists_the_notices_routed_to_it_open_first(prefecture: Prefecture,
                                                               notices: dict[str, Any]) -> None:
    """临溪县's 城关司法所 sees the notices routed to it — another county's sentences too — numbers and dates, no
    person; nobody else may read that list; the read is audited; the command line (server down) agrees."""
    office = headers(prefecture.tokens["resettle.linxi"], role="correction_officer", purpose="resettlement_handover")
    mine = {k: n for k, n in notices.items() if (n["county"], n["office"]) == ("411731", "城关司法所")}
    with TestClient(create_app(prefecture.services)) as client:
        listed = client.get("/api/v1/handovers", headers=office)
        assert listed.status_code == 200, listed.text
        data = listed.json()
        rows = {r["notice_number"]: r for r in data["handovers"]}
        assert set(rows) == set(mine) and data["counties"] == ["411731"] and data["offices"] == ["城关司法所"]
        for number, n in mine.items():
            status = rows[number]["status"]
            assert (status if status != "open_overdue" else "open") == expected_status(n), number
            assert rows[number]["released_on"] == n["released"].isoformat()
        statuses = [r["status"] for r in data["handovers"]]
        assert statuses == sorted(statuses, key=["open_overdue", "pending", "received_late",
                                                 "received_in_time"].index)
        assert data["open"] == sum(1 for n in mine.values() if n["received"] is None)
        assert any(r["cross_county"] for r in data["handovers"])
        assert set(data["handovers"][0]) == {"notice_number", "county_code", "office_name", "released_on", "due_on",
                                             "status", "received_on", "days_overdue", "sentenced_in", "cross_county"}
        records, _ = read_trail(prefecture.hub.log)
        last = decode_record(records[-1])
        assert (last["user"], last["role"], last["purpose"], last["decision"], last["subject"]) == \
            ("resettle.linxi", "correction_officer", "resettlement_handover", "allowed", "")
        mediator = client.get("/api/v1/handovers", headers=headers(prefecture.tokens["mediator.demo"], role="mediator",
                                                                    purpose="resettlement_handover"))
        assert mediator.status_code == 403 and mediator.json()["error"]["reason"] == "no_rule"
        posing = client.get("/api/v1/handovers", headers=headers(
            prefecture.tokens["bureau.prefecture"], role="correction_officer", purpose="resettlement_handover"))
        assert posing.status_code == 403 and posing.json()["error"]["reason"] == "role_not_held"
    cli = run(prefecture, "handovers", "--json", token="resettle.linxi")
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["handovers"] == data["handovers"]
    text = run(prefecture, "handovers", token="resettle.linxi")
    assert text.exit_code == 0 and f"{data['open']} open past due" in text.output


def bureau(prefecture: Prefecture) -> dict[str, str]:
    return headers(prefecture.tokens["bureau.prefecture"], role="bureau_officer", purpose="statistics")


def test_the_bureau_sees_the_rate_and_every_open_hand_over_cross_county_from_both_ends(
        prefecture: Prefecture, notices: dict[str, Any]) -> None:
    with TestClient(create_app(prefecture.services)) as client:
        board = client.get("/api/v1/dashboard", headers=bureau(prefecture)).json()
        by_county = {r["county_code"]: r for r in board["sections"]["handovers"]}
        for county in (*COUNTIES, "*"):
            mine = [n for n in notices.values() if county in ("*", n["county"])]
            kinds = Counter(expected_status(n) for n in mine)
            row = by_county[county]
            assert (row["notices"], row["received_in_time"], row["received_late"]) == \
                (len(mine), kinds["received_in_time"], kinds["received_late"])
            assert row["open_overdue"] + row["pending"] == kinds["open"]
            assert row["handover_rate"] == round(kinds["received_in_time"] / row["due"], 4)
        assert board["summary"]["handover_rate"] == by_county["*"]["handover_rate"] < 1
        open_rows = board["sections"]["open_handovers"]
        assert {r["notice_number"] for r in open_rows} == {k for k, n in notices.items() if n["received"] is None}
        assert all(r["days_overdue"] > 0 and set(r) - {"suppressed"} == {
            "notice_number", "county_code", "office_name", "released_on", "due_on", "days_overdue", "sentenced_in",
            "cross_county"} for r in open_rows)
        for county in COUNTIES:   # a county's bureau sees its own and those it sentenced that went elsewhere
            own = client.get(f"/api/v1/dashboard?county={county}", headers=bureau(prefecture)).json()
            listed = {r["notice_number"] for r in own["sections"]["open_handovers"]}
            assert listed == {k for k, n in notices.items() if n["received"] is None
                              and county in (n["county"], n["sentenced_in"])}
            assert [r["county_code"] for r in own["sections"]["handovers"] if r["county_code"] != "*"] in (
                [], [county], sorted({county, *(n["county"] for n in notices.values() if n["sentenced_in"] == county
                                                and n["county"] != county)}))
        exported = client.get("/api/v1/dashboard/export.csv?section=open_handovers", headers=bureau(prefecture)).text
        assert exported.startswith("\ufeffnotice_number,county_code,office_name,released_on,due_on,days_overdue,"
                                   "sentenced_in,cross_county\r\n")
        assert len(exported.strip().split("\r\n")) == len(open_rows) + 1


def run(prefecture: Prefecture, *args: str, token: str = "bureau.prefecture") -> Result:
    env = {"JUSTLINK_DATA_DIR": str(prefecture.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": prefecture.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": prefecture.tokens[token]}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_the_command_line_lists_the_open_hand_overs(prefecture: Prefecture, notices: dict[str, Any]) -> None:
    result = run(prefecture, "dashboard", "--csv", "open_handovers")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.output.splitlines()))
    assert {r["notice_number"] for r in rows} == {k for k, n in notices.items() if n["received"] is None}
    summary = run(prefecture, "dashboard", "--json")
    assert summary.exit_code == 0, summary.output
    assert json.loads(summary.output)["summary"]["open_handovers"] == len(rows)


@pytest.mark.browser
def test_the_bureau_page_shows_the_hand_over_rate_and_the_open_hand_overs(prefecture: Prefecture,
                                                                          notices: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    with served(prefecture.services) as url, chromium(tmp_path) as page:
        page.get(url + "/bureau")
        wait(page, lambda d: d.find_element(By.ID, "token").is_displayed())
        page.find_element(By.ID, "token").send_keys(prefecture.tokens["bureau.prefecture"])
        page.find_element(By.ID, "sign-in-button").click()
        wait(page, lambda d: d.find_element(By.ID, "workspace").get_attribute("data-loaded"))
        assert "%" in page.find_element(By.ID, "tile-handover_rate").text
        chart = page.find_element(By.ID, "chart-handovers").text
        assert all(code in chart for code in COUNTIES) and "逾期未衔接" in chart
        page.find_element(By.ID, "tab-open_handovers").click()
        table = page.find_element(By.ID, "section-table").text
        missing = [k for k, n in notices.items() if n["received"] is None]
        assert "释放通知书编号" in table and all(k in table for k in missing) and "是" in table
        screenshot(page, "released-prisoner-handovers.png")
        assert not console_errors(page)


@pytest.mark.browser
def test_the_office_page_lists_the_open_hand_overs_and_opens_one_to_its_red_alert(prefecture: Prefecture,
                                                                                  notices: dict[str, Any],
                                                                                  tmp_path: Path) -> None:
    """临溪县 城关司法所's officer signs in: the open hand-overs are listed at once, the oldest first; opening one
    opens the hand-over as the case, with the released person, whose red alert is there."""
    mine = {k for k, n in notices.items() if (n["county"], n["office"]) == ("411731", "城关司法所")
            and n["received"] is None}
    assert mine, "临溪县's 城关司法所 has an open hand-over"
    with served(prefecture.services) as url, chromium(tmp_path) as page:
        page.get(url + "/")
        wait(page, lambda d: d.find_element(By.ID, "token").is_displayed())
        page.find_element(By.ID, "token").send_keys(prefecture.tokens["resettle.linxi"])
        page.find_element(By.ID, "sign-in-button").click()
        wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#handovers-list .card.open_overdue"))
        cards = page.find_elements(By.CSS_SELECTOR, "#handovers-list .card.open_overdue")
        assert {c.get_attribute("data-notice") for c in cards} == mine
        assert "逾期未衔接" in cards[0].text and f"逾期未衔接 {len(mine)} 人" in page.find_element(By.ID, "handovers-summary").text
        cards[0].click()
        wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#case-parties .card"))
        assert "安置帮教" in page.find_element(By.ID, "case-box").text
        page.find_element(By.CSS_SELECTOR, "#case-parties .card").click()
        wait(page, lambda d: "刑满释放人员未按期衔接" in d.find_element(By.ID, "alerts").text)
        assert "红色预警" in page.find_element(By.ID, "alerts").text
        screenshot(page, "released-prisoner-office.png")
        assert not console_errors(page)
