"""The analysts' pages in a real browser: Debian's Chromium driven by Playwright against a real `hashwarden serve` on
loopback. Logged in through the form (as an analyst, then an examiner), every page is visited on a phone-width
screen; its visible content is checked, a full-page screenshot saved (`$HASHWARDEN_TEST_ARTIFACTS`, else
test-output/screenshots/ at the repository's root: CI keeps them as artifacts), and the test fails if the page
asks anything of another origin, if the policy blocks anything (a console message), or if it is wider than the
screen. A missing chromium or Playwright fails: make test installs both (Makefile TEST_TOOLS, the `test` extra).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from hashwarden.store import open_store
from tests.service.conftest import add_users, fill
from tests.service.test_serve import PROJECT, start_serve, wait_for_health
from tests.service.web_data import DISPUTED_SHA256, HOSTILE, VICTIM_MEDIA_MD5, fill_pages

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PHONE = {"width": 390, "height": 844}  # a phone's CSS pixels
BUDGET_SECONDS = 60


def artifacts() -> Path:
    folder = Path(os.environ.get("HASHWARDEN_TEST_ARTIFACTS") or PROJECT / "test-output" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def served(tmp_path: Path, images: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, str], int]]:
    """`hashwarden serve` over the pages' test store: its URL, the users' keys, the case's id."""
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    fill(engine, images["known"])
    keys, _ = add_users(engine)
    case_id = fill_pages(engine)
    engine.dispose()
    with open(tmp_path / "serve.log", "w") as log:
        server, url = start_serve(str(db), output=log)
        try:
            wait_for_health(url, server)
            yield url, keys, case_id
        finally:
            server.terminate()
            server.wait(timeout=60)


@pytest.mark.browser
def test_every_page_in_chromium(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    if not Path(CHROMIUM).exists():  # a missing tool fails: it is not a pass
        pytest.fail("chromium missing: make test installs it (Makefile TEST_TOOLS)")
    from playwright.sync_api import sync_playwright  # the `test` extra; missing: an import error, a failure

    with served(tmp_path, images) as (url, keys, case_id):
        started = time.monotonic()
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        shots = artifacts()
        for old in shots.glob("ui-*.png"):
            old.unlink()
        requested: list[str] = []
        console: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport=PHONE)
                context.set_default_timeout(15_000)
                context.on("request", lambda request: requested.append(request.url))  # every page's, and workers'
                page = context.new_page()
                page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
                page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))

                page.goto(f"{url}/ui/stats")  # not logged in: the form
                assert urlsplit(page.url).path == "/ui/login"
                page.fill("#key", "hw_000000000000_wrong")
                page.click("button[type=submit]")
                assert "That key is not valid" in page.inner_text("main")
                shoot(page, shots, "login-refused")
                log_in(page, keys["analyst"])
                cookie, = context.cookies()
                assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == \
                    ("hw_key", True, "Strict", "/ui")

                for path, name, expected in (
                        ("/ui/", "home", ["Statistics", "Disputed grades", "Series", "Victims", "Cases"]),
                        ("/ui/stats", "stats", ["Statistics: 2 graded media", "By category"]),
                        ("/ui/grades/disputed", "disputed", [DISPUTED_SHA256, "reviewer-1", HOSTILE]),
                        ("/ui/series", "series", ["S-1", "Beach series", "S/2"]),
                        ("/ui/series/S-1", "series-one", ["Beach series", HOSTILE, DISPUTED_SHA256, "V-1"]),
                        ("/ui/victims", "victims", ["V-1", "identified", "2021-03-04"]),
                        ("/ui/victims/V-2", "victim-two", [VICTIM_MEDIA_MD5]),
                        ("/ui/cases", "cases-analyst", ["CASE-WEB"])):
                    visit(page, f"{url}{path}", shots, name, expected)
                assert page.locator("svg").count() == 0  # the last page; the charts are the stats page's
                page.goto(f"{url}/ui/stats")
                assert page.locator("main svg").count() >= 2 and page.locator("img").count() == 0
                page.goto(f"{url}/ui/series")
                page.click("a[href='/ui/series/S%2F2']")  # a code with a slash, by its link
                assert "Second series" in page.inner_text("main")

                page.click("text=Log out")
                page.wait_for_url(f"{url}/ui/login")
                assert context.cookies() == []
                log_in(page, keys["examiner"])
                assert "Statistics" not in page.inner_text("header")  # not an examiner's page
                visit(page, f"{url}/ui/cases/{case_id}", shots, "case-leads",
                      ["CASE-WEB", "DCIM/a.jpg", "Canon/SN123", "cluster: by near_duplicate, burst",
                       "future_kind: case 77", HOSTILE])
                page.goto(f"{url}/ui/stats")
                assert "403" in page.inner_text("main")
                shoot(page, shots, "refused-role")
                page.set_viewport_size({"width": 1280, "height": 900})
                visit(page, f"{url}/ui/cases/{case_id}", shots, "case-leads-wide", ["Canon/SN123"])
                violations = [line for line in console if "Content Security Policy" in line or "pageerror" in line]
                page.evaluate("fetch('/ui/').catch(() => null)")  # the control: a violation is seen (connect-src)
                page.wait_for_timeout(300)
            finally:
                browser.close()
        foreign = [address for address in requested if not address.startswith(origin + "/")]
        assert not foreign, f"requests outside the service: {foreign}"
        assert not violations, console
        assert [line for line in console if "Content Security Policy" in line and "connect-src" in line], console
        assert time.monotonic() - started < BUDGET_SECONDS
    assert len(list(shots.glob("ui-*.png"))) == 12


def log_in(page: Any, key: str) -> None:
    page.goto(page.url.split("/ui/")[0] + "/ui/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/")


def visit(page: Any, address: str, shots: Path, name: str, expected: list[str]) -> None:
    """Open a page, check that it answered, shows `expected` and fits the screen's width; screenshot it."""
    answer = page.goto(address)
    assert answer is not None and answer.status == 200, (address, answer and answer.status)
    shown = page.inner_text("body")
    for text in expected:
        assert text in shown, (address, text)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{address} is too wide"
    shoot(page, shots, name)


def shoot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"ui-{name}.png"), full_page=True)
