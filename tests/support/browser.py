"""Headless Chromium for the feature journeys: a driver with a download directory, waiting on progress
(never a sleep), screenshots in artifacts/ at the repository root. No Chromium is a failure, never a skip."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@contextmanager
def chromium(downloads: Path, width: int = 1366, height: int = 900) -> Iterator[WebDriver]:
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "headless Chromium is not installed (make browser)"
    profile = Path(tempfile.mkdtemp(prefix="justlink-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", f"--window-size={width},{height}", "--lang=zh-CN"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(width, height)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 20) -> Any:
    """Until the condition holds; an element the page re-rendered meanwhile (stale) is looked up again."""
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def screenshot(driver: WebDriver, name: str, *, full_height: bool = True) -> Path:
    """The page as shown (its full height when asked: the README's screenshots)."""
    ARTIFACTS.mkdir(exist_ok=True)
    if full_height:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(driver.get_window_size()["width"], min(max(height, 600), 2400))
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"no screenshot {path}"
    return path


def console_errors(driver: WebDriver) -> list[str]:
    """The page's console errors (a blocked inline style, a failed call), the missing favicon left out."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]


def downloaded(directory: Path, name: str, timeout: float = 20) -> Path:
    """A finished download (no partial .crdownload) of that name, waited for by polling the directory."""
    import time

    deadline = time.monotonic() + timeout
    path = directory / name
    while not (path.exists() and not any(directory.glob("*.crdownload"))):
        assert time.monotonic() < deadline, f"{name} was not downloaded"
        time.sleep(0.05)
    return path


def open_case_as(page: WebDriver, url: str, token: str, case_number: str) -> None:
    """On the case worker's page at `url`: sign in with `token`, then open the case `case_number`."""
    page.get(url + "/")
    wait(page, lambda d: d.find_element(By.ID, "token").is_displayed())
    page.find_element(By.ID, "token").send_keys(token)
    page.find_element(By.ID, "sign-in-button").click()
    wait(page, lambda d: d.find_element(By.ID, "workspace").is_displayed())
    page.find_element(By.ID, "case-id").send_keys(case_number)
    page.find_element(By.ID, "open-case").click()
