"""An editor's day in headless Chromium (Debian's chromium and chromium-driver, through
Selenium): the inbox and its filters, an alert's article with its highlights, search, trying
a rule, feedback changing a rule's precision; and hostile articles shown as inert text.

Screenshots of each page go to $TEST_ARTIFACTS (default tests/web/artifacts/). Without the
browser the tests skip, saying how to install it (`make browser`), except under CI=true,
where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.conftest import Inbox

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS") or Path(__file__).parent / "artifacts")

pytestmark = pytest.mark.browser

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    reason = (
        f"no {CHROMIUM} or {CHROMEDRIVER}: run `make browser` as root"
        " (apt-get install -y chromium chromium-driver)"
    )
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"the browser tests must run in CI: {reason}")
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                "--disable-dev-shm-usage", "--no-first-run"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def click(browser: WebDriver, element: WebElement) -> None:
    """Click, and wait for the page it loads (the clicked element goes stale)."""
    element.click()
    WebDriverWait(browser, 20).until(expected_conditions.staleness_of(element))


def no_script_ran(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.execute_script("return typeof window.pwned") == "undefined"


def test_the_inbox_filters_and_an_alert_shows_why_it_matched(
    browser: WebDriver, inbox: Inbox
) -> None:
    browser.get(inbox.url)
    entries = browser.find_elements(By.CSS_SELECTOR, "li.entry")
    assert len(entries) == 3  # the weather story matched nothing
    first = entries[-1]
    assert "Oil exports face new sanctions" in first.text
    assert {m.text for m in first.find_elements(By.TAG_NAME, "mark")} >= {"oil", "sanctions"}
    deliveries = [d.text for d in browser.find_elements(By.CSS_SELECTOR, "li.delivery")]
    assert any(d.startswith("hook: sent") for d in deliveries)
    shot(browser, "inbox")
    Select(browser.find_element(By.NAME, "rule")).select_by_visible_text("oil-near-sanctions")
    click(browser, browser.find_element(By.ID, "apply"))
    (only,) = browser.find_elements(By.CSS_SELECTOR, "li.entry")
    assert "rule=oil-near-sanctions" in browser.current_url
    shot(browser, "inbox-filtered")
    click(browser, only.find_element(By.CSS_SELECTOR, "a.headline"))
    text = browser.find_element(By.ID, "text")
    marks = text.find_elements(By.TAG_NAME, "mark")
    assert [m.get_attribute("title") for m in marks] == ["oil-near-sanctions"] * 2
    assert marks[0].find_element(By.CSS_SELECTOR, "sup.label").text == "oil-near-sanctions"
    assert "NEAR: 3 words apart" in browser.find_element(By.CSS_SELECTOR, ".evidence").text
    link = browser.find_element(By.CSS_SELECTOR, "a.out")
    assert link.get_attribute("href") == "https://gulf.example/1"
    shot(browser, "article")


def test_search_finds_stored_articles_with_the_words_marked(
    browser: WebDriver, inbox: Inbox
) -> None:
    browser.get(inbox.url + "search")
    box = browser.find_element(By.NAME, "q")
    box.send_keys("lisbon OR vienna")
    click(browser, browser.find_element(By.ID, "search-go"))
    hits = browser.find_elements(By.CSS_SELECTOR, "ol.hits > li")
    assert [h.find_element(By.CSS_SELECTOR, "a").text for h in hits] == [
        "Weather in Lisbon",  # newest first
        "Tehran talks resume",
    ]
    assert hits[0].find_element(By.TAG_NAME, "mark").text == "Lisbon"
    shot(browser, "search")


def test_trying_a_rule_shows_what_it_would_have_matched(browser: WebDriver, inbox: Inbox) -> None:
    browser.get(inbox.url + "try")
    browser.find_element(By.NAME, "q").send_keys("vienna OR lisbon")
    click(browser, browser.find_element(By.ID, "try-go"))
    assert browser.find_element(By.ID, "try-summary").text.startswith("2 of 4 stored articles")
    titles = {a.text for a in browser.find_elements(By.CSS_SELECTOR, "ol.hits a.headline")}
    assert titles == {"Tehran talks resume", "Weather in Lisbon"}
    shot(browser, "try")
    browser.get(inbox.url + "try?q=vienna+AND")
    assert "rule" in browser.find_element(By.ID, "query-error").text
    shot(browser, "try-error")


def precision(browser: WebDriver, inbox: Inbox, rule: str) -> str:
    browser.get(inbox.url + "rules")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-rule="{rule}"]')
    return str(row.find_element(By.CSS_SELECTOR, "td.precision").text)


def test_feedback_changes_the_rules_precision(browser: WebDriver, inbox: Inbox) -> None:
    assert precision(browser, inbox, "iran-watch") == "—"
    browser.get(inbox.url + "?rule=iran-watch")
    buttons = browser.find_elements(By.CSS_SELECTOR, 'button.useful[data-rule="iran-watch"]')
    click(browser, buttons[0])
    assert "chosen" in browser.find_elements(
        By.CSS_SELECTOR, 'button.useful[data-rule="iran-watch"]'
    )[0].get_attribute("class")
    assert precision(browser, inbox, "iran-watch") == "100% (1 of 1)"
    browser.get(inbox.url + "?rule=iran-watch")
    click(
        browser,
        browser.find_elements(By.CSS_SELECTOR, 'button.not-useful[data-rule="iran-watch"]')[1],
    )
    assert precision(browser, inbox, "iran-watch") == "50% (1 of 2)"
    shot(browser, "rules")


def test_hostile_articles_show_as_inert_text(browser: WebDriver, inbox: Inbox) -> None:
    browser.get(inbox.url)
    no_script_ran(browser)
    headline = browser.find_elements(By.CSS_SELECTOR, "a.headline")[0].text
    assert headline.startswith("<script>window.pwned=1;alert(1)</script>")
    assert "gnp.exe" in headline  # as written: no override turns it round into "exe.png"
    assert "\u202e" not in browser.page_source and "\u2066" not in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main svg, main script") == []
    click(browser, browser.find_elements(By.CSS_SELECTOR, "a.headline")[0])
    no_script_ran(browser)
    assert "<img src=x onerror=" in browser.find_element(By.ID, "text").text
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main svg, main script") == []
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
    assert not any(h.lower().startswith("javascript:") for h in hrefs)
    unsafe = browser.find_element(By.CSS_SELECTOR, ".unsafe-link").text
    assert unsafe == "javascript:window.pwned=6"  # shown, not followed
    source = browser.page_source
    assert "\u202e" not in source and "\u2066" not in source  # no bidi override reaches it
    shot(browser, "hostile")
