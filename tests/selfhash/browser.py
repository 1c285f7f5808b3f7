"""The self-hash page in Debian's Chromium (Playwright, as tests/service/test_web_browser.py drives the analysts'
pages): a real `hashwarden serve` on loopback, a browser on a phone-sized screen, every request recorded."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from hashwarden.api import hash_file
from hashwarden.demo.synthetic import save, scene
from hashwarden.store import open_store
from tests.service.conftest import add_users, fill
from tests.service.test_serve import start_serve, wait_for_health
from tests.service.test_web_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, artifacts

# What a request of the page may carry: the report's fields (service/self_reports.py SelfReportBody).
REPORT_FIELDS = {"md5", "sha256", "pdq", "quality", "vpdq", "media_type", "age_band", "being_shared", "challenge",
                 "nonce"}


@dataclass
class Browsed:
    """A served store and a browser page on its self-hash page: what every request carried, what the console said."""

    url: str
    db: Path
    page: Any
    context: Any
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)  # method, URL, body
    console: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return "{0.scheme}://{0.netloc}".format(urlsplit(self.url))

    def shoot(self, name: str) -> None:
        self.page.screenshot(path=str(artifacts() / f"selfhash-{name}.png"), full_page=True)

    def evaluate_with_bytes(self, script: str, data: bytes, *more: Any) -> Any:
        """Run `script` (an async function of (bytes as base64, *more)) in the page."""
        return self.page.evaluate(script, [base64.b64encode(data).decode(), *more])


@contextmanager
def browsing(tmp_path: Path) -> Iterator[Browsed]:
    """`hashwarden serve` over a small store, and Chromium on /selfhash/ (loaded, ready)."""
    if not Path(CHROMIUM).exists():  # a missing tool fails: it is not a pass
        pytest.fail("chromium missing: make test installs it (Makefile TEST_TOOLS)")
    from playwright.sync_api import sync_playwright

    db = tmp_path / "hw.db"
    save(scene(21), tmp_path / "known.jpg")
    engine = open_store(f"sqlite:///{db}")
    fill(engine, hash_file(tmp_path / "known.jpg"))
    add_users(engine)
    engine.dispose()
    with open(tmp_path / "serve.log", "w") as log:
        server, url = start_serve(str(db), output=log)
        try:
            wait_for_health(url, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    context = browser.new_context(viewport=PHONE)
                    context.set_default_timeout(60_000)
                    page = context.new_page()
                    browsed = Browsed(url, db, page, context)
                    context.on("request", lambda request: browsed.requests.append(
                        (request.method, request.url, request.post_data_buffer or b"")))
                    page.on("console", lambda message: browsed.console.append(f"{message.type}: {message.text}"))
                    page.on("pageerror", lambda error: browsed.console.append(f"pageerror: {error}"))
                    page.goto(f"{url}/selfhash/")
                    page.wait_for_selector("body[data-ready=true]")
                    yield browsed
                finally:
                    browser.close()
        finally:
            server.terminate()
            server.wait(timeout=60)


HASH_FILE = """async ([data, name, type]) => {
  const {hashFile} = await import('/selfhash/hashing.mjs');
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  return await hashFile(new File([bytes], name, {type}), () => {});
}"""


def hash_in_page(browsed: Browsed, data: bytes, name: str = "file", media_type: str = "") -> dict[str, Any]:
    """What the page's hashing (hashing.mjs `hashFile`, the browser's decoder) computes for a file's bytes."""
    return browsed.evaluate_with_bytes(HASH_FILE, data, name, media_type)


def check_requests(browsed: Browsed, files: list[bytes]) -> None:
    """Every request stayed on the page's origin, and none carried any part of a file the page hashed: each body
    is a report of hashes and flags (or empty), and no 32-byte window of the files appears in any body or URL."""
    foreign = [url for _, url, _ in browsed.requests if not url.startswith(browsed.origin + "/")]
    assert not foreign, f"requests outside the origin: {foreign}"
    windows = [data[at:at + 32] for data in files for at in range(0, max(1, len(data) - 32), max(1, len(data) // 16))]
    for method, url, body in browsed.requests:
        assert len(url) < 200, url
        if not body:
            continue
        assert method == "POST" and url == f"{browsed.origin}/v1/self-reports", url
        report = json.loads(body)
        assert set(report) <= REPORT_FIELDS, sorted(report)
        assert all(len(value) <= 100 for value in report.values() if isinstance(value, str)), report
        assert len(body) < 600_000
        assert not any(window in body for window in windows)
