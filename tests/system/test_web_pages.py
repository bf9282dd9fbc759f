"""The mediator's page and the DPO's page in a real headless Chromium, against the real API over a
real county: sign in, pick the case, find a party, read the timeline (agency and stage markers,
threads, alerts, masked fields that say why); the DPO's report, filters and CSV export. Screenshots
go to artifacts/ at the repository root. No Chromium is a failure, never a skip."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from hub.api.app import create_app
from tests.support.api_county import County, build_county, mediator_headers, party_of

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=200)
    now = datetime.now(UTC)
    # Test fixture alert row (as the alerts processor would project it) so the page has one to show.
    county.store.insert("alerts", [["A-web-red", county.parties[0], "", "repeated_divorce_with_domestic_violence", "red", "mediator",
                                    "open", now, now, ["e1"], 1, 0]],
                        ["alert_id", "person_id", "dispute_id", "rule", "level", "role", "status", "raised_at",
                         "updated_at", "evidence", "version", "is_deleted"])
    yield county
    county.close()


@pytest.fixture(scope="module")
def server(county: County) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(county.services), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "headless Chromium is not installed"
    profile = Path(tempfile.mkdtemp(prefix="justlink-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1366,768", "--lang=zh-CN"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(1366, 768)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: WebDriver, condition, timeout: float = 15):
    return WebDriverWait(driver, timeout).until(condition)


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"no screenshot {path}"
    return path


def sign_in(driver: WebDriver, token: str) -> None:
    wait(driver, ec.visibility_of_element_located((By.ID, "token"))).send_keys(token)
    driver.find_element(By.ID, "sign-in-button").click()


def fits_the_screen(driver: WebDriver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_mediator_page_case_party_timeline_threads_alerts(county: County, server: str, browser: WebDriver) -> None:
    browser.get(server + "/")
    assert "跨部门纠纷查询" in browser.title
    sign_in(browser, county.tokens["mediator.demo"])
    wait(browser, ec.visibility_of_element_located((By.ID, "workspace")))
    assert Select(browser.find_element(By.ID, "role")).first_selected_option.text == "人民调解员"
    Select(browser.find_element(By.ID, "purpose")).select_by_value("dispute_mediation")
    browser.find_element(By.ID, "case-id").send_keys(county.case)
    browser.find_element(By.ID, "open-case").click()
    cards = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#case-parties button.card"))
    assert sorted(c.get_attribute("data-person") for c in cards) == sorted(county.parties)
    next(c for c in cards if c.get_attribute("data-person") == county.parties[0]).click()

    entries = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline li.entry"))
    assert len(entries) > 3
    agencies = {b.text for b in browser.find_elements(By.CSS_SELECTOR, "#timeline .badge.agency")}
    assert len(agencies) >= 3 and agencies <= {"法院", "公安", "民政", "司法局"}
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline .badge.stage")
    masked = browser.find_elements(By.CSS_SELECTOR, "#timeline .masked")
    assert masked and "需当事人同意" in masked[0].text and "needs_consent" in masked[0].get_attribute("title")
    threads = browser.find_elements(By.CSS_SELECTOR, "#threads .thread")
    assert threads and browser.find_elements(By.CSS_SELECTOR, "#threads .step")
    red = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#alerts .alert.level-red"))
    assert "红色预警" in red[0].text
    assert "家庭暴力告诫书" in browser.find_element(By.ID, "timeline-note").text  # what consent would add
    assert fits_the_screen(browser)
    assert screenshot(browser, "mediator-timeline.png").stat().st_size > 10_000

    # a thread filters the timeline to its records
    threads[0].find_element(By.CSS_SELECTOR, "button.link").click()
    wait(browser, lambda d: "仅显示纠纷线索" in d.find_element(By.ID, "timeline-note").text)

    # next page, then search the other party by an identifier
    party = party_of(county.store, county.services, county.parties[1])
    kind = "id_number" if party.get("id_number") else "phone"
    Select(browser.find_element(By.ID, "search-kind")).select_by_value(kind)
    browser.find_element(By.ID, "search-value").send_keys(party[kind])
    browser.find_element(By.ID, "search-button").click()
    found = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results button.card"))
    assert [c.get_attribute("data-person") for c in found] == [county.parties[1]]
    assert party["name"] not in browser.page_source


def test_mediator_page_says_why_a_stranger_is_refused(county: County, server: str, browser: WebDriver) -> None:
    browser.get(server + "/")
    sign_in(browser, "jl_wrong")
    error = wait(browser, lambda d: d.find_element(By.ID, "sign-in-error").text)
    assert "401" in error and "令牌无效" in error
    browser.find_element(By.ID, "token").clear()
    sign_in(browser, county.tokens["mediator.demo"])
    wait(browser, ec.visibility_of_element_located((By.ID, "workspace")))
    browser.find_element(By.ID, "case-id").send_keys("（2025）无此调字第1号")
    browser.find_element(By.ID, "open-case").click()
    error = wait(browser, lambda d: d.find_element(By.ID, "context-error").text)
    assert "403" in error and "案件不存在" in error and "审计记录" in error


def test_dpo_page_report_filters_and_csv(county: County, server: str, browser: WebDriver, tmp_path: Path) -> None:
    import httpx

    looked = httpx.get(f"{server}/api/v1/persons/{county.parties[0]}/history",
                       headers=mediator_headers(county), timeout=30)
    assert looked.status_code == 200  # an access for the DPO to see
    browser.get(server + "/dpo")
    sign_in(browser, county.tokens["mediator.demo"])  # not a DPO
    assert "没有该角色" in wait(browser, lambda d: d.find_element(By.ID, "sign-in-error").text)
    browser.find_element(By.ID, "token").clear()
    sign_in(browser, county.tokens["dpo.demo"])
    wait(browser, ec.visibility_of_element_located((By.ID, "workspace")))
    total = int(wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tile-accesses strong").text))
    assert total > 0
    browser.find_element(By.ID, "tab-by_subject").click()
    subjects = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#section-table tbody button.link"))
    assert county.parties[0] in [s.text for s in subjects]
    next(s for s in subjects if s.text == county.parties[0]).click()  # who looked at this person
    wait(browser, lambda d: d.find_element(By.ID, "tiles").get_attribute("data-subject") == county.parties[0])
    browser.find_element(By.ID, "tab-accesses").click()
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#section-table tbody tr"))
    assert rows and all(county.parties[0] in r.text for r in rows)
    assert "mediator.demo" in browser.find_element(By.ID, "section-table").text
    browser.find_element(By.ID, "tab-anomalies").click()
    wait(browser, lambda d: d.find_element(By.ID, "section-title").text.startswith("异常"))
    assert fits_the_screen(browser)
    screenshot(browser, "dpo-report.png")
    browser.find_element(By.ID, "tab-accesses").click()
    browser.find_element(By.ID, "export-csv").click()
    csv_file = wait(browser, lambda d: next(iter(tmp_path.glob("justlink-audit-accesses*.csv")), None))
    lines = csv_file.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("seq,at,user") and all(county.parties[0] in line for line in lines[1:])


def test_the_api_docs_work_offline(server: str, browser: WebDriver) -> None:
    """/docs is Swagger UI served by the hub itself: every file it loads comes from the hub, no CDN."""
    browser.get(server + "/docs")
    title = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    assert "JustLink" in title[0].text
    assert wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-tag-section"))
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(server) for url in loaded), loaded
    assert "https:" not in browser.execute_script("return document.documentElement.outerHTML")
