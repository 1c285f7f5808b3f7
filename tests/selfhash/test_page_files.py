"""The page's files: web/selfhash/ is the packaged folder, every file the page loads is one the service serves, and
the installed package ships them all (package-data)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch

from hashwarden.service.self_reports import PAGE_DIR, PAGE_FILES
from tests.selfhash.node_js import PROJECT, WEB


def test_web_selfhash_is_the_packaged_folder() -> None:
    assert WEB.resolve() == PAGE_DIR.resolve()
    assert {path.name for path in PAGE_DIR.iterdir()} == set(PAGE_FILES) | {"pdq-cli.mjs"}


def test_the_page_loads_only_files_the_service_serves() -> None:
    html = (PAGE_DIR / "index.html").read_text()
    loaded = set(re.findall(r'(?:src|href)="([^"]+)"', html))
    for module in PAGE_DIR.glob("*.mjs"):
        loaded |= set(re.findall(r'from "\./([^"]+)"', module.read_text()))
    assert loaded == {"style.css", "page.mjs", "hashing.mjs", "pdq.mjs", "md5.mjs", "pow.mjs", "video.mjs"}
    assert loaded <= set(PAGE_FILES)
    assert "http" not in html.replace('http-equiv', '') and "<script>" not in html  # no other origin, no inline code


def test_the_package_ships_the_page() -> None:
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["hashwarden"]
    for path in PAGE_DIR.iterdir():
        assert any(fnmatch(f"service/selfhash/{path.name}", pattern) for pattern in patterns), path.name
