"""Headless chromium for the dashboard's tests (integration and e2e): Debian's chromium and chromium-driver
through selenium, and a patient `wait` for a page that redraws while it is read.

scripts/test.sh installs chromium; a machine without it fails these tests, it does not skip them.
"""
from __future__ import annotations

import shutil
import time
from typing import Any, Callable, Iterator

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def browser_session() -> Iterator[Any]:
    """A headless chromium driver with the console's log kept (tests check it has no errors)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromium-driver are not installed (scripts/test.sh installs them: "
                    "apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def wait(check: Callable[[], Any], timeout: float = 15.0, what: str | Callable[[], str] = "") -> Any:
    """`check()`'s first true answer; an exception counts as not yet (a card re-rendered between find and read)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:       # noqa: BLE001 - the page redrew under the read: look again
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.05)
    said = what() if callable(what) else what
    raise AssertionError(f"timed out waiting for {said or check}: last {last!r}")


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """The console's errors since the last call (get_log drains the log)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
