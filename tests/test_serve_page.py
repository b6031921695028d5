"""The page in a real browser: headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium; nothing is downloaded) loads it from a server on 127.0.0.1, a
sentence is typed, and the translation and its heat map are checked against the API.
Where the browser is not installed this test skips and says so.

With NMT_SERVE_DEMO=RUN the page serves that trained run instead of the tiny random
one, with a real German sentence: that is how the README's screenshot was made.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_serve_server import WAIT, serving
from test_translations import make_run

from nmt.serve.app import create_app
from nmt.serve.models import load_models

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # without these it waits on connections that fail
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,900",
)
DEMO = os.environ.get("NMT_SERVE_DEMO")
SENTENCE = (
    "Ein Mann fährt mit dem Fahrrad die Straße entlang." if DEMO else "ein hund sieht das haus"
)


@pytest.fixture
def browser(tmp_path) -> Iterator:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.skip(
            "no headless Chromium here: Debian's chromium and chromium-driver packages are "
            "not installed (.ci/run installs them where apt-get can)"
        )
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options, webdriver.ChromeService(chromedriver))  # no driver lookup
    yield driver
    driver.quit()


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    attention = Path(DEMO) if DEMO else make_run(tmp_path / "attention")
    return [attention, make_run(tmp_path / "plain", attention="none")]


def test_the_page_translates_and_draws_a_row_per_target_piece(browser, runs, tmp_path):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def translate_on_the_page() -> None:
        browser.find_element(By.ID, "translate").click()
        results = browser.find_element(By.ID, "results")
        wait.until(lambda _: results.get_attribute("data-state") in ("done", "error"))
        assert results.get_attribute("data-state") == "done", browser.find_element(
            By.ID, "error"
        ).text

    wait = WebDriverWait(browser, WAIT)
    with serving(create_app(load_models(runs, "cpu"))) as (url, _):
        browser.get(url)
        wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#model option"))
        browser.find_element(By.ID, "source").send_keys(SENTENCE)
        translate_on_the_page()
        beam = int(browser.find_element(By.ID, "beam").get_attribute("value"))
        body = {"text": [SENTENCE], "beam": beam, "attention": True}
        expected = httpx.post(f"{url}/v1/translate", json=body).json()["translations"][0]
        assert (
            browser.find_element(By.CSS_SELECTOR, ".translation").text == expected["text"].strip()
        )

        rows = browser.find_elements(By.CSS_SELECTOR, "table.heatmap tbody tr")
        pieces = [row.find_element(By.TAG_NAME, "th").text for row in rows]
        assert pieces == expected["attention"]["target"]
        columns = browser.find_elements(By.CSS_SELECTOR, "table.heatmap thead th.src")
        assert len(columns) == len(expected["attention"]["source"])
        ActionChains(browser).move_to_element(rows[1]).perform()
        assert "focus" in rows[1].get_attribute("class")
        assert all(column.get_attribute("style") for column in columns)  # its weights shown
        shot = tmp_path / "serve-page.png"
        assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"

        Select(browser.find_element(By.ID, "model")).select_by_visible_text("plain")
        translate_on_the_page()
        assert not browser.find_elements(By.CSS_SELECTOR, "table.heatmap")
        assert "has no attention" in browser.find_element(By.CSS_SELECTOR, ".no-attention").text


def test_an_error_clears_the_last_results_and_a_long_map_stays_in_the_window(browser, runs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT)

    def translate_on_the_page(source: str, beam: int) -> str:
        for name, value in (("source", source), ("beam", str(beam))):
            browser.find_element(By.ID, name).clear()
            browser.find_element(By.ID, name).send_keys(value)
        browser.find_element(By.ID, "translate").click()
        results = browser.find_element(By.ID, "results")
        wait.until(lambda _: results.get_attribute("data-state") in ("done", "error"))
        return results.get_attribute("data-state")

    with serving(create_app(load_models(runs[:1], "cpu"))) as (url, _):
        browser.get(url)
        wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#model option"))
        assert translate_on_the_page(SENTENCE, 2) == "done"
        assert browser.find_elements(By.CSS_SELECTOR, ".result")
        assert translate_on_the_page(SENTENCE, 0) == "error"  # beam 0 is refused
        assert browser.find_element(By.ID, "error").text
        assert not browser.find_elements(By.CSS_SELECTOR, ".result")  # nothing stale below it

        assert translate_on_the_page(" ".join([SENTENCE] * 12), 1) == "done"
        frame = browser.find_element(By.CSS_SELECTOR, ".heatmap-frame")
        window = browser.execute_script("return window.innerHeight")
        assert frame.size["height"] <= 0.6 * window + 1
        assert browser.find_elements(By.CSS_SELECTOR, "table.heatmap.compact")
