"""Any case number an agency may write — CJK, full-width brackets and digits, emoji, right-to-left scripts —
opened as a real case on the log, then used through every client: the web page's own encoder in headless
Chromium (the number set in the case field and opened, as the mediator does), the API, and the CLI with
the server up (through it) and down (opening the hub itself). Each answer names the case exactly, and the
audit trail, the DPO's report and its CSV hold it exactly as written — never mojibake, never withheld."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

from consent.access.audit import decode_record, read_trail
from consent.access.caller_values import problem_of
from hub.cli.main import cli
from hub.cli.remote import advertise, withdraw
from hub.services.dpo import cell
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, headers, open_mediation_case, settle
from tests.support.browser import chromium, console_errors, wait
from tests.support.served import served

pytestmark = pytest.mark.browser

# what agencies write and what a keyboard can make of it: letters of every script, marks, digits, punctuation
# (full-width too), symbols (emoji), spaces inside; the access gate's own rule decides what is a case number
CASE_NUMBER = st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="\n"),
                      min_size=1, max_size=40).filter(lambda v: v == v.strip() and problem_of("case_id", v) is None)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("unicode-cases"), persons=120, seed=31)
    yield county
    county.close()


@pytest.fixture(scope="module")
def server(county: County) -> Iterator[str]:
    with served(county.services) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, server: str, county: County) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("downloads")) as driver:
        driver.get(server + "/")
        wait(driver, ec.visibility_of_element_located((By.ID, "token"))).send_keys(county.tokens["mediator.demo"])
        driver.find_element(By.ID, "sign-in-button").click()
        wait(driver, ec.visibility_of_element_located((By.ID, "workspace")))
        yield driver


def cli_run(county: County, *args: str, token: str | None = None) -> dict:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": token or county.tokens["mediator.demo"]}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else {"text": result.stdout}


def through_the_page(browser: WebDriver, case: str) -> str:
    """The mediator opens the case on the page (set as pasted: ChromeDriver types no character beyond
    the BMP); the case line the page shows."""
    browser.execute_script("document.getElementById('case-box').textContent = '';"
                           "document.getElementById('case-id').value = arguments[0];", case)
    browser.find_element(By.ID, "open-case").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#case-parties button.card")
         or d.find_element(By.ID, "context-error").text)
    assert not browser.find_element(By.ID, "context-error").text, browser.find_element(By.ID, "context-error").text
    line: str = browser.execute_script("return document.querySelector('#case-box p.meta').textContent")
    return line


@dataclass
class World:
    county: County
    server: str
    browser: WebDriver

    def __repr__(self) -> str:  # what hypothesis prints of a failing example: the case numbers, not the county
        return "World(county, server, browser)"


@pytest.fixture(scope="module")
def world(county: County, server: str, browser: WebDriver) -> World:
    return World(county, server, browser)


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=st.lists(CASE_NUMBER, min_size=2, max_size=3, unique=True))
@example(cases=["（2025）城关调字第902号", "（２０２５）豫１７３０执９０１号", "📁 ملف ٣ קובץ"])  # none of the county's
def test_every_case_number_travels_through_every_client_and_the_trail_holds_it_exactly(
        world: World, cases: list[str]) -> None:
    county, server, browser = world.county, world.server, world.browser
    for case in cases:
        open_mediation_case(county, case, county.parties, committee=county.committee, settle_now=False)
    settle(county)
    before = len(read_trail(county.hub.log)[0])
    for case in cases:
        opened = httpx.get(f"{server}/api/v1/case", headers=headers(county.tokens["mediator.demo"], case=case),
                           timeout=30)
        assert opened.status_code == 200 and opened.json()["case_id"] == case
        assert sorted(p["person_id"] for p in opened.json()["parties"]) == county.parties
        assert through_the_page(browser, case).startswith(case + " · ")
        mediator = ("--as", "mediator", "--purpose", "dispute_mediation", "--case", case, "--json")
        assert cli_run(county, "alerts", "list", *mediator)["case_id"] == case   # down: the hub opened here
        advertise(county.data_dir, server)
        try:
            assert cli_run(county, "alerts", "list", *mediator)["case_id"] == case   # up: through the server
        finally:
            withdraw(county.data_dir)
    assert not console_errors(browser)

    trail = [decode_record(value) for value in read_trail(county.hub.log)[0][before:]]
    for case in cases:
        held = [r for r in trail if r["case_id"] == case]
        assert len(held) >= 4, f"the trail holds {len(held)} accesses under the case as written"
    assert not [r for r in trail if r.get("withheld")], "a case number was withheld as unknown or invalid"
    dpo = county.tokens["dpo.demo"]
    report = cli_run(county, "audit", "report", "--json", token=dpo)
    assert set(cases) <= {a["case_id"] for a in report["accesses"]}
    exported = cli_run(county, "audit", "report", "--section", "accesses", "--csv", "-", token=dpo)["text"]
    in_csv = {row["case_id"] for row in csv.DictReader(io.StringIO(exported))}
    assert {cell(case) for case in cases} <= in_csv  # as written (a leading = + - @ quoted, against formulas)
