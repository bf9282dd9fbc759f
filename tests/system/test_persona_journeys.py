"""Each persona's journey on the demo's own county, as they live it: `justlink demo --no-serve` in a fresh
directory, then `justlink demo` again as a real process (what `make demo` runs: no new data, the same
summary, then it serves; Ctrl-C stops it). The mediator, the judge, the police officer, the
correction officer, the legal-aid officer and the civil-affairs registrar sign in on the page in headless
Chromium, open the first case the demo offered them (numbered as the agency writes it), find its party by
the identifier the demo printed, read the timeline and see the alerts; the mediator records a consent and
withdraws it; the DPO finds every one of those accesses, with its case number exactly, on her page and
in its CSV, then erases a person and the others verify the person is gone. The same journeys run through
the CLI with the server down (before it starts) and up, with the same answers. First, what the newcomer
is promised before any of that: a sign-in per demo user, open cases of the county per role, users of the
county's real offices, real counts in `views status`, the same summary on a rerun. One demo and one
server for the module; screenshots of each persona's main page go to artifacts/journey-<role>.png."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from consent.access.users import DEMO_USERS
from hub.cli.main import cli
from hub.cli.remote import running_server
from tests.support.browser import chromium, console_errors, screenshot, wait
from tests.support.journeys import (
    JUSTLINK,
    Demo,
    Persona,
    Server,
    justlink,
    justlink_batch,
    read_guide,
    run_demo,
)

pytestmark = pytest.mark.browser

PERSONAS = ("mediator.demo", "judge.demo", "police.demo", "correction.demo", "legalaid.demo", "registrar.demo")
ERASURE_REQUEST = "request:（2025）个保删字第7号"
PAPER_CONSENT = "request:（2025）城关同意书第3号"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return run_demo(tmp_path_factory.mktemp("journeys"))


# -- what the demo promises a newcomer (before the server starts: these need the views to themselves) -------

def test_the_demo_prints_a_sign_in_for_every_demo_user(demo: Demo) -> None:
    assert set(demo.personas) == {user for user, *_ in DEMO_USERS}
    for user, role, _, _ in DEMO_USERS:
        assert demo.personas[user].role == role and demo.personas[user].token.startswith("jl_")


@pytest.mark.parametrize("user", PERSONAS)
def test_each_role_gets_open_cases_of_the_county_with_a_party_to_look_up(demo: Demo, user: str) -> None:
    persona = demo.personas[user]
    assert persona.cases, f"the demo offers {user} no open case:\n{demo.output[-3000:]}"
    assert len(persona.cases) <= 3
    for case in persona.cases:
        assert case.lookup and case.name


def test_demo_users_belong_to_the_countys_offices(demo: Demo) -> None:
    assert demo.personas["correction.demo"].organisation == "justice:城关司法所"
    assert demo.personas["correction.demo"].cases[0].kind == "correction"   # that office's supervisee first
    assert demo.personas["police.demo"].organisation.endswith("派出所")
    assert any(c.case_id.startswith("（") and "调字第" in c.case_id for c in demo.personas["mediator.demo"].cases)


def test_the_demo_prints_the_courts_dates_in_china_time(demo: Demo) -> None:
    """A court case opened on 节点日期 D (stored at 16:00 UTC the day before) is printed as opened on D."""
    exported = court_dates(demo)
    court = [case for user in PERSONAS for case in demo.personas[user].cases if case.kind == "court"]
    assert court
    for case in court:
        assert case.opened == exported[(case.case_id, "立案")], f"{case.case_id} printed as opened on another day"


def test_views_status_counts_what_the_demo_built(demo: Demo) -> None:
    status = justlink(demo, "views", "status")
    assert status.returncode == 0, status.stderr
    counts = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in status.stdout.splitlines()[:4]}
    assert counts["persons"] > 500 and counts["disputes"] > 100 and counts["cases"] > 100 and counts["alerts"] > 0


def test_make_demo_again_with_no_new_data_gives_the_same_summary_and_serves(demo: Demo, server: Server) -> None:
    """The server of the journeys is `justlink demo` run again (what `make demo` runs), once the demo's
    `--no-serve` run and the command line's server-down journeys are done: its new tokens join the first
    run's, and Ctrl-C stops it cleanly (the fixture's end)."""
    again = server.output()

    def summary(output: str) -> list[str]:
        return [line for line in output.splitlines() if line.startswith(("Alerts:", "  of which raised by the clock",
                                                                          "Persons resolved", "Disputes threaded"))]

    assert summary(again) == summary(demo.output) and summary(demo.output)
    assert " -> 0 decisions" in again, again[:1500]   # nothing new to decide
    assert read_guide(again).keys() == demo.personas.keys() and "Ctrl-C to stop." in again


def test_the_readme_walks_each_persona_through_the_first_case_the_demo_prints(demo: Demo) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Each persona's first five minutes", 1)[1].split("\n## ", 1)[0]
    bullets = {re.search(r"`(\S+\.demo)`", b)[1]: b for b in section.split("\n- ")[1:]}
    for user in PERSONAS:
        first = demo.personas[user].cases[0]
        assert f"`{first.case_id}`" in bullets.get(user, ""), f"README: {user}'s case is not {first.case_id}"
    assert "dpo.demo" in bullets


def test_version() -> None:
    done = subprocess.run([JUSTLINK, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("justlink, version ")


# -- the journeys ------------------------------------------------------------------------------------------

Run = Callable[[list[dict]], list[dict]]


def context_of(persona: Persona) -> tuple[str, ...]:
    return ("--token", persona.token, "--as", persona.role, "--purpose", persona.purpose,
            "--case", persona.cases[0].case_id)


def cli_journeys(demo: Demo, run: Run) -> dict[str, dict[str, Any]]:
    """Each persona's first minutes on the command line: (legal aid: the case's parties, then the consent
    taken at intake) find the party by the identifier the demo printed, from stdin (out of the shell
    history), list the case's alerts, then read the party's history."""
    first: list[dict] = []
    for user in PERSONAS:
        persona, case = demo.personas[user], demo.personas[user].cases[0]
        if case.consent_of:
            first += [{"args": ["case", "show", *context_of(persona), "--json"]},
                      {"args": ["consent", "grant", case.consent_of, "--scope", "basic", "--scope", "contact",
                                "--scope", "identifier", *context_of(persona)]}]
        first += [{"args": ["person", "find", f"--{case.lookup_kind.replace('_', '-')}", "-", *context_of(persona),
                            "--json"], "stdin": case.lookup + "\n"},
                  {"args": ["alerts", "list", *context_of(persona), "--json"]}]
    answers = iter(run(first))
    journeys: dict[str, dict[str, Any]] = {}
    for user in PERSONAS:
        case = demo.personas[user].cases[0]
        if case.consent_of:
            shown, granted = next(answers), next(answers)
            assert shown["exit_code"] == 0 and granted["exit_code"] == 0, f"{user}: {shown} {granted}"
            listed = json.loads(shown["stdout"])  # not yet consented, or consented on an earlier journey
            assert case.consent_of in listed["needs_consent"] + [p["person_id"] for p in listed["parties"]]
        found, alerts = next(answers), next(answers)
        assert found["exit_code"] == 0 and alerts["exit_code"] == 0, f"{user}: {found['stderr']}{alerts['stderr']}"
        journeys[user] = {"find": json.loads(found["stdout"]), "alerts": json.loads(alerts["stdout"])}
        results = journeys[user]["find"]["results"]
        assert len(results) == 1, f"{user} finds {len(results)} persons by the printed {case.lookup_kind}"
    histories = run([{"args": ["person", "history", journeys[user]["find"]["results"][0]["person_id"],
                               *context_of(demo.personas[user]), "--json", "--limit", "50"]} for user in PERSONAS])
    for user, history in zip(PERSONAS, histories, strict=True):
        assert history["exit_code"] == 0, f"{user}: {history['stderr']}"
        journeys[user]["history"] = json.loads(history["stdout"])
    return journeys


@pytest.fixture(scope="module")
def down(demo: Demo) -> dict[str, dict[str, Any]]:
    """The CLI journeys with no server: each command opens the hub itself (in a process of its own)."""
    assert not (demo.data_dir / "server.json").exists()
    return cli_journeys(demo, lambda commands: justlink_batch(demo, commands))


@pytest.fixture(scope="module")
def server(demo: Demo, down: dict[str, dict[str, Any]]) -> Iterator[Server]:
    served = Server(demo, "demo")  # after the server-down journeys: chDB lets one process hold the views
    yield served
    assert served.stop(signal.SIGINT) == 0, "`justlink demo` did not stop cleanly on Ctrl-C"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("downloads")) as driver:
        yield driver


def sign_in(driver: WebDriver, url: str, token: str) -> None:
    """A fresh sign-in: storage cleared on a page of the same origin that signs nobody in."""
    driver.get(url.rsplit("/", 1)[0] + "/healthz")
    driver.execute_script("sessionStorage.clear(); localStorage.clear();")
    driver.get(url)
    wait(driver, ec.visibility_of_element_located((By.ID, "token"))).send_keys(token)
    driver.find_element(By.ID, "sign-in-button").click()
    signed = wait(driver, lambda d: d.find_element(By.ID, "workspace").is_displayed()
                  or d.find_element(By.ID, "sign-in-error").text)
    assert signed is True, f"sign-in refused: {signed}"


def open_case_and_party(driver: WebDriver, persona: Persona) -> tuple[list[str], str]:
    """Open the persona's first case, look its party up by the printed identifier and open them;
    the case's parties and the person found."""
    case = persona.cases[0]
    assert Select(driver.find_element(By.ID, "role")).first_selected_option.get_attribute("value") == persona.role
    Select(driver.find_element(By.ID, "purpose")).select_by_value(persona.purpose)
    driver.find_element(By.ID, "case-id").send_keys(case.case_id)
    driver.find_element(By.ID, "open-case").click()
    cards = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#case-parties button.card")
                 or d.find_element(By.ID, "context-error").text)
    assert isinstance(cards, list), f"{persona.user} cannot open {case.case_id}: {cards}"
    assert case.case_id in driver.find_element(By.ID, "case-box").text  # the number as the agency writes it
    parties = [c.get_attribute("data-person") for c in cards]
    if case.consent_of:  # legal aid: open the applicant, record the consent taken at intake
        next(c for c in cards if c.get_attribute("data-person") == case.consent_of).click()
        wait(driver, ec.visibility_of_element_located((By.ID, "consent-panel")))
        driver.find_element(By.ID, "record-consent").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#consent-list li.consent.active"))
    Select(driver.find_element(By.ID, "search-kind")).select_by_value(case.lookup_kind)
    driver.find_element(By.ID, "search-value").send_keys(case.lookup)
    driver.find_element(By.ID, "search-button").click()
    found = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results button.card")
                 or d.find_element(By.ID, "search-error").text)
    assert isinstance(found, list) and len(found) == 1, f"{persona.user} finds {found!r}"
    person = found[0].get_attribute("data-person")
    assert person in parties
    found[0].click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline li.entry"))
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#alerts .alert, #alerts .error"))
    return parties, person


def page_text(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


TIMELINE = """return [...document.querySelectorAll('#timeline li.entry')].map((li) => ({
  when: li.querySelector('.when').textContent, type: li.querySelector('strong').title,
  meta: li.querySelector('.line.meta').textContent,
  fields: [...li.querySelectorAll('dl.fields dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]),
  others: [...li.querySelectorAll('table.parties tbody tr:not(.self)')].map((tr) => [...tr.cells].map((td) => td.textContent))
}));"""
COURT_STEPS = {"CaseFiled": "立案", "DocumentsServed": "送达", "HearingHeld": "开庭", "JudgmentIssued": "结案"}
MASKED_OR_EMPTY = re.compile(r"^(—|［已遮蔽：.*］)$")
SENTENCE = re.compile(r"^(缓刑（考验期\d+个月）|有期徒刑/拘役\d+个月|管制\d+个月|罚金|免予刑事处罚)$")


def court_dates(demo: Demo) -> dict[tuple[str, str], str]:
    """(案号, 节点名称) -> 节点日期, as the demo county's court exported them."""
    with open(demo.data_dir / "demo-county" / "court" / "court_case_nodes.csv", encoding="utf-8", newline="") as f:
        return {(row["案号"], row["节点名称"]): row["节点日期"] for row in csv.DictReader(f)}


def check_the_timeline(demo: Demo, persona: Persona, entries: list[dict]) -> int:
    """What every persona's timeline must be: values in Chinese (no code shows as itself), the court's
    dates as the court wrote them (China time, never the UTC date a day early), and of the other people on
    a record only their role and gender (least data). The correction officer reads the supervised person's
    offence and sentence. Returns how many court dates were checked. Failures name fields, never values."""
    codes = sorted({dt for e in entries for dt, dd in e["fields"] if re.fullmatch(r"[a-z][a-z_]*(:\d+)?", dd)})
    assert not codes, f"{persona.user}: shown as codes, not in Chinese: {codes}"
    exported, checked = court_dates(demo), 0
    for entry in entries:
        case = re.search(r"案号：(.+?)(?: · |$)", entry["meta"])
        day = exported.get((case[1], COURT_STEPS.get(entry["type"], ""))) if case else None
        if entry["type"] in COURT_STEPS and day:
            assert entry["when"].replace("/", "-") == day, f"{persona.user}: {entry['type']} not on the court's date"
            checked += 1
        for other in entry["others"]:  # name, date of birth, ID number, phone, address of anybody else
            shown = [i for i in (1, 3, 4, 5, 6) if not MASKED_OR_EMPTY.match(other[i].strip())]
            assert not shown, f"{persona.user}: another party's columns {shown} shown on {entry['type']}"
    if persona.role == "correction_officer":
        fields = {dt: dd for e in entries for dt, dd in e["fields"]}
        assert "罪名" in fields and not MASKED_OR_EMPTY.match(fields["罪名"]), "the offence is masked"
        assert SENTENCE.match(fields.get("刑罚", "")), "the sentence is masked, missing or not in words"
    return checked


@pytest.mark.parametrize("user", PERSONAS)
def test_each_persona_signs_in_opens_a_case_finds_the_party_and_reads_the_timeline(
        demo: Demo, server: Server, browser: WebDriver, user: str) -> None:
    persona = demo.personas[user]
    sign_in(browser, server.url + "/", persona.token)
    assert persona.organisation.split(":", 1)[1] in browser.find_element(By.ID, "who-name").text
    parties, person = open_case_and_party(browser, persona)
    entries = browser.find_elements(By.CSS_SELECTOR, "#timeline li.entry")
    assert entries and person in browser.find_element(By.ID, "person-title").text
    basis = browser.find_element(By.ID, "person-basis").text
    assert basis.startswith("依据：") and not re.search(r"statute|consent|break-glass", basis), "basis not in Chinese"
    assert "《" in basis or "当事人同意" in basis
    alerts = browser.find_element(By.ID, "alerts").text
    assert "预警" in alerts or "No alerts" in alerts
    text = page_text(browser)
    assert not re.search(r"\b(mediation|court_filing|police_incident|correction|IncidentReported)\b", text), \
        "an enumeration shows as its code, not in Chinese"
    checked = check_the_timeline(demo, persona, browser.execute_script(TIMELINE))
    assert checked or persona.role != "judge", "the judge's party has no court record to date-check"
    assert not console_errors(browser)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), \
        f"{persona.user}'s page scrolls sideways"
    path = screenshot(browser, f"journey-{persona.role}.png")
    browser.set_window_size(1366, 900)
    assert path.stat().st_size > 20_000


def test_the_mediator_records_a_consent_at_intake_sees_what_it_unlocks_and_withdraws_it(
        demo: Demo, server: Server, browser: WebDriver) -> None:
    persona = demo.personas["mediator.demo"]
    sign_in(browser, server.url + "/", persona.token)
    open_case_and_party(browser, persona)
    basis = browser.find_element(By.ID, "person-basis").text
    assert "身份标识" not in basis.split("可见字段：", 1)[1]  # identifiers need the party's consent
    panel = wait(browser, ec.visibility_of_element_located((By.ID, "consent-panel")))
    assert "当事人同意后可查看" in panel.text
    browser.find_element(By.ID, "record-consent").click()
    active = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#consent-list li.consent.active"))
    assert "有效" in active[0].text and "解锁" in active[0].text
    wait(browser, lambda d: "身份标识" in d.find_element(By.ID, "person-basis").text)  # unlocked on the next request
    screenshot(browser, "journey-mediator-consent.png")
    browser.set_window_size(1366, 900)
    active[0].find_element(By.CSS_SELECTOR, "button.withdraw").click()
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#consent-list li.consent.active")
         and d.find_elements(By.CSS_SELECTOR, "#consent-list li.consent.inactive"))
    # the page re-opens the person after the withdrawal: the list can show it before the basis is redrawn
    wait(browser, lambda d: "身份标识" not in d.find_element(By.ID, "person-basis").text.split("可见字段：", 1)[-1])


def in_process(demo: Demo) -> Run:
    """The command line run in this process: with the server up it only speaks HTTP to it."""
    def run(commands: list[dict]) -> list[dict]:
        runner = CliRunner()
        out = []
        for command in commands:
            result = runner.invoke(cli, command["args"], input=command.get("stdin"), env=demo.env(),
                                   catch_exceptions=False)
            out.append({"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr})
        return out
    return run


@pytest.fixture(scope="module")
def up(demo: Demo, server: Server) -> dict[str, dict[str, Any]]:
    """The CLI journeys while `justlink serve` holds the views: each command goes through it."""
    assert running_server(demo.data_dir) == server.url
    return cli_journeys(demo, in_process(demo))


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """Without what differs by design: the audit record's number, the consent id (legal aid records one
    consent per journey)."""
    text = re.sub(r'"audit_seq": \d+', '"audit_seq": 0', json.dumps(answer, ensure_ascii=False))
    text = re.sub(r'"consent: C[0-9a-f]+"', '"consent: C"', text)
    return json.loads(re.sub(r'"consent_id": "[^"]*"', '"consent_id": ""', text))


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two answers differ, as paths (the values may be personal data: never shown)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(a.keys() | b.keys()) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


@pytest.mark.parametrize("user", PERSONAS)
def test_the_cli_gives_each_persona_the_same_answers_with_the_server_up_and_down(
        demo: Demo, down: dict[str, dict[str, Any]], up: dict[str, dict[str, Any]], user: str) -> None:
    persona = demo.personas[user]
    assert differences(comparable(up[user]), comparable(down[user])) == []
    assert up[user]["history"]["entries"], f"{user} reads an empty history"
    assert up[user]["alerts"]["case_id"] == persona.cases[0].case_id


def test_the_dpo_sees_every_personas_access_with_its_case_number_exactly(
        demo: Demo, server: Server, browser: WebDriver, up: dict[str, dict[str, Any]],
        tmp_path_factory: pytest.TempPathFactory) -> None:
    sign_in(browser, server.url + "/dpo", demo.personas["dpo.demo"].token)
    assert int(wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tile-accesses strong").text)) > 0
    browser.find_element(By.ID, "tab-accesses").click()
    table = wait(browser, lambda d: d.find_element(By.ID, "section-table").text)
    cases = {demo.personas[user].cases[0].case_id for user in PERSONAS}
    for case in cases:
        assert case in table, f"{case} is not on the DPO's page as the agency wrote it"
    assert "人民调解员" in table and "法官" in table and "allowed" not in table  # roles and decisions in Chinese
    assert not console_errors(browser)
    screenshot(browser, "journey-dpo.png")
    browser.set_window_size(1366, 900)

    # a consent the party gave on paper: the DPO records it (the form's number as the reference), the
    # mediator's next request has it, the DPO withdraws it
    subject, mediator = up["mediator.demo"]["find"]["results"][0]["person_id"], demo.personas["mediator.demo"]
    lookup = browser.find_element(By.ID, "dpo-consent-lookup")
    lookup.find_element(By.NAME, "subject").send_keys(subject)
    lookup.find_element(By.NAME, "reference").send_keys(PAPER_CONSENT)
    browser.find_element(By.ID, "dpo-consent-open").click()
    form = wait(browser, ec.visibility_of_element_located((By.ID, "dpo-consent-form")))
    Select(form.find_element(By.NAME, "grant")).select_by_value("mediator/dispute_mediation")
    form.find_element(By.ID, "dpo-record-consent").click()
    withdraw = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#dpo-consent-list li.consent button.withdraw"))
    recorded = browser.find_element(By.CSS_SELECTOR, "#dpo-consent-list li.consent:has(button.withdraw)")
    assert "纠纷调解" in recorded.text and "人民调解员" in recorded.text and "有效" in recorded.text
    consent_id = recorded.get_attribute("data-consent")
    listed = in_process(demo)([{"args": ["consent", "list", subject, *context_of(mediator), "--json"]}])[0]
    assert listed["exit_code"] == 0, listed["stderr"]
    assert consent_id in {c["consent_id"] for c in json.loads(listed["stdout"])["consents"] if c["active"]}
    withdraw[0].click()
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#dpo-consent-list li.consent button.withdraw"))
    assert "已撤回" in browser.find_element(By.CSS_SELECTOR, f"#dpo-consent-list li[data-consent='{consent_id}']").text
    assert not browser.find_element(By.ID, "dpo-consent-error").text

    report = justlink(demo, "audit", "report", "--token", demo.personas["dpo.demo"].token, "--section", "accesses",
                      "--csv", "-")
    assert report.returncode == 0, report.stderr
    for case in [*cases, PAPER_CONSENT]:
        assert case in report.stdout


def test_every_case_the_demo_offers_opens_and_its_party_is_found(
        demo: Demo, server: Server, up: dict[str, dict[str, Any]]) -> None:
    """Not only the first: each case printed for a role opens for that role, through the server, and the
    printed party is found there and has a history (before the DPO erases anyone)."""
    offered = [(user, case) for user in PERSONAS for case in demo.personas[user].cases[1:]]
    commands: list[dict] = []
    finds: list[int] = []  # which answers are the look-ups
    for user, case in offered:
        persona = demo.personas[user]
        context = ("--token", persona.token, "--as", persona.role, "--purpose", persona.purpose, "--case",
                   case.case_id)
        if case.consent_of:
            commands.append({"args": ["consent", "grant", case.consent_of, "--scope", "identifier", *context]})
        finds.append(len(commands))
        commands.append({"args": ["person", "find", f"--{case.lookup_kind.replace('_', '-')}", "-", *context,
                                  "--json"], "stdin": case.lookup + "\n"})
    answered = in_process(demo)(commands)
    assert all(a["exit_code"] == 0 for a in answered), [a["stderr"] for a in answered if a["exit_code"]]
    answers = [answered[i] for i in finds]
    histories = []
    for (user, case), found in zip(offered, answers, strict=True):
        assert found["exit_code"] == 0, f"{user} cannot use {case.case_id}: {found['stderr']}"
        results = json.loads(found["stdout"])["results"]
        assert len(results) == 1, f"{user} finds {len(results)} persons for {case.case_id}"
        persona = demo.personas[user]
        histories.append({"args": ["person", "history", results[0]["person_id"], "--token", persona.token, "--as",
                                   persona.role, "--purpose", persona.purpose, "--case", case.case_id, "--json"]})
    for (user, case), history in zip(offered, in_process(demo)(histories), strict=True):
        assert history["exit_code"] == 0 and json.loads(history["stdout"])["entries"], f"{user}: {case.case_id}"


def test_the_dpo_erases_a_person_and_the_others_no_longer_find_them(
        demo: Demo, server: Server, browser: WebDriver, up: dict[str, dict[str, Any]]) -> None:
    judge = demo.personas["judge.demo"]
    case = judge.cases[0]
    person = up["judge.demo"]["find"]["results"][0]["person_id"]
    dpo = demo.personas["dpo.demo"].token
    refused = justlink(demo, "erase", "--person", person, "--token", judge.token, "--request", ERASURE_REQUEST,
                       "--reason", "subject_request", "--yes")
    assert refused.returncode == 1 and "403 role_not_held" in refused.stderr  # a judge is no DPO
    erased = justlink(demo, "erase", "--person", person, "--token", dpo, "--request", ERASURE_REQUEST,
                      "--reason", "subject_request", "--yes")
    assert erased.returncode == 0, erased.stderr
    assert case.name in erased.stdout  # named before it is done

    sign_in(browser, server.url + "/", judge.token)
    Select(browser.find_element(By.ID, "purpose")).select_by_value(judge.purpose)
    browser.find_element(By.ID, "case-id").send_keys(case.case_id)

    def parties_once_the_views_apply_it(driver: WebDriver) -> list[str] | None:
        """The serving process's views drop the person when its projector applies PersonErased: progress
        to wait on, re-opening the case as the judge would."""
        driver.find_element(By.ID, "open-case").click()
        try:
            cards = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#case-parties button.card"))
            shown = [c.get_attribute("data-person") for c in cards]
        except StaleElementReferenceException:  # the page re-rendered the case meanwhile: look again
            return None
        return None if person in shown else shown

    remaining = wait(browser, parties_once_the_views_apply_it, timeout=60)
    assert remaining, "the other parties of the case went too"
    Select(browser.find_element(By.ID, "search-kind")).select_by_value(case.lookup_kind)
    browser.find_element(By.ID, "search-value").send_keys(case.lookup)
    browser.find_element(By.ID, "search-button").click()
    wait(browser, lambda d: "未找到" in d.find_element(By.ID, "search-results").text)

    context = context_of(judge)
    found, history, other, trail = in_process(demo)([
        {"args": ["person", "find", f"--{case.lookup_kind.replace('_', '-')}", "-", *context, "--json"],
         "stdin": case.lookup + "\n"},
        {"args": ["person", "history", person, *context, "--json"]},
        {"args": ["person", "history", remaining[0], *context, "--json"]},
        {"args": ["audit", "report", "--token", dpo, "--json"]}])
    assert found["exit_code"] == 0 and json.loads(found["stdout"])["results"] == []
    assert history["exit_code"] != 0 or not json.loads(history["stdout"])["entries"]
    assert other["exit_code"] == 0 and json.loads(other["stdout"])["entries"], other["stderr"]
    assert trail["exit_code"] == 0 and ERASURE_REQUEST in trail["stdout"]
