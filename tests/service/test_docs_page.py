"""`/docs` works offline: the page names only the service's own URLs, they are served, and a headless chromium
that cannot reach anything but loopback renders the operations from a `hashwarden serve` process."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Service
from tests.service.test_serve import serving


def test_the_docs_page_names_only_local_urls_and_they_are_served(service: Service) -> None:
    page = service.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http:" not in page.text and "https:" not in page.text and "//" not in page.text.replace("://", "")
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert len(urls) == 4 and all(url.startswith("/") for url in urls), urls
    types = {url: service.client.get(url) for url in urls}
    assert {url: response.status_code for url, response in types.items()} == dict.fromkeys(urls, 200)
    assert types["/openapi.json"].json()["paths"]
    assert "SwaggerUIBundle" in types["/docs/assets/swagger-ui-bundle.js"].text


def test_the_assets_folder_serves_nothing_else(service: Service) -> None:
    for path in ("/docs/assets/", "/docs/assets/../__init__.py", "/docs/assets/main.py"):
        assert service.client.get(path).status_code == 404, path


@pytest.mark.heavy
def test_chromium_renders_the_docs_offline(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    if shutil.which("chromium") is None:  # a missing tool fails: it is not a pass
        pytest.fail("chromium missing: make test installs it (Makefile TEST_TOOLS)")
    with serving(tmp_path, images) as (url, _keys):
        result = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             f"--user-data-dir={tmp_path / 'chromium'}",
             # Every request that is not to loopback fails: no proxy answers on port 9, no name resolves.
             "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--virtual-time-budget=15000", "--dump-dom", f"{url}/docs"],
            capture_output=True, text=True, timeout=180, check=False)
    paths = re.findall(r'class="opblock-summary-path"[^>]*>.*?<span>(.*?)</span>', result.stdout, flags=re.S)
    paths = [re.sub(r"<[^>]+>|\u200b", "", path) for path in paths]
    assert {"/v1/lookup", "/v1/media", "/v1/health"} <= set(paths), result.stdout[-2000:] + result.stderr[-2000:]
