"""The block page (urllist/block_page.py): honest status (403, or 451; never a fake 404), the IWF-style wording with
an appeal contact and a help line, every value escaped, no URL or entry in it; as `url block-page` writes it (for
squid: `%` doubled), and as the service's `GET /blocked` answers it without a key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from hashwarden.errors import BlockPageError
from hashwarden.service.app import create_app
from hashwarden.store import create_set, open_store
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.urllist.block_page import SQUID_PAGE, SQUID_UNAVAILABLE_PAGE, BlockPage, write_squid_pages
from tests.test_cli import hw

WORDING = "because this page may contain images of child sexual abuse"


def test_the_default_page_says_why_who_to_contact_and_where_to_get_help() -> None:
    page = BlockPage()
    html = page.render()
    assert page.status == 403 and "HTTP 403 Forbidden" in html
    assert "Access has been denied by your internet access provider" in html and WORDING in html
    assert "blocked in error, please contact your internet access provider" in html
    assert 'href="https:&#47;&#47;www.stopitnow.org.uk&#47;"' in html and "Stop It Now" in html
    assert "@@" not in html and html.isascii()


def test_451_and_never_a_fake_404() -> None:
    assert "HTTP 451 Unavailable For Legal Reasons" in BlockPage(status=451).render()
    for status in (404, 200, 302, 500):
        with pytest.raises(BlockPageError, match="403 or 451"):
            BlockPage(status=status)


def test_values_are_escaped_and_links_only_http() -> None:
    html = BlockPage(operator='<script>alert("x")</script> ISP', appeal="abuse@isp.example & co",
                     hotline="Hotline \u202eevil").render()
    assert "<script>" not in html and "&lt;script&gt;" in html and "abuse@isp.example &amp; co" in html
    assert "U+202E" in html  # a bidi override shown, not obeyed
    for url in ("javascript:alert(1)", "https://x.example/\" onclick=\"x", "data:text/html,x"):
        with pytest.raises(BlockPageError, match="helpline_url"):
            BlockPage(helpline_url=url)


def test_a_template_of_ones_own(tmp_path: Path) -> None:
    template = tmp_path / "page.html"
    template.write_text("<p>@@OPERATOR@@ @@STATUS@@ @@REASON@@ \u00e9</p>", encoding="utf-8")
    html = BlockPage(operator="ISP & Co").with_template_file(template).render()
    assert html == "<p>ISP &amp; Co 403 Forbidden &#233;</p>"
    template.write_text("<p>@@URL@@</p>")
    with pytest.raises(BlockPageError, match=r"unknown placeholder\(s\) @@URL@@"):
        BlockPage().with_template_file(template)


def test_a_configuration_file(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("<p>@@APPEAL@@ @@HELPLINE_NAME@@</p>")
    config = tmp_path / "block.json"
    config.write_text(json.dumps({"status": 451, "appeal": "appeals@isp.example", "helpline_name": "Help",
                                  "template": "t.html"}))
    page = BlockPage.from_file(config)
    assert page.status == 451 and page.render() == "<p>appeals@isp.example Help</p>"
    config.write_text(json.dumps({"colour": "red"}))
    with pytest.raises(BlockPageError, match="block.json: a JSON object with some of"):
        BlockPage.from_file(config)
    config.write_text("{")
    with pytest.raises(BlockPageError, match="not JSON"):
        BlockPage.from_file(config)


def test_squid_pages_double_every_percent_and_keep_squids_own(tmp_path: Path) -> None:
    templates = tmp_path / "squid-templates"
    templates.mkdir()
    (templates / "ERR_ACCESS_DENIED").write_text("<p>%U denied</p>")
    page = BlockPage(operator="100% honest ISP")
    written = write_squid_pages(page, tmp_path / "errors", templates)
    assert sorted(p.name for p in written) == ["ERR_ACCESS_DENIED", SQUID_PAGE, SQUID_UNAVAILABLE_PAGE]
    ours = (tmp_path / "errors" / SQUID_PAGE).read_text()
    assert "100%% honest ISP" in ours and ours.replace("%%", "%") == page.render()
    unavailable = (tmp_path / "errors" / SQUID_UNAVAILABLE_PAGE).read_text()
    assert "100%% honest ISP" in unavailable and unavailable.replace("%%", "%") == page.render_unavailable()
    assert (tmp_path / "errors" / "ERR_ACCESS_DENIED").read_text() == "<p>%U denied</p>"


def test_the_unavailable_page_says_the_check_failed_not_that_the_page_is_listed() -> None:
    page = BlockPage(operator="Example Telecom", appeal="help@isp.example")
    shown = page.render_unavailable()
    assert "HTTP 503 Service Unavailable" in shown and "could not be checked" in shown
    assert "does not mean the page is on the list" in shown and "help@isp.example" in shown
    assert "child sexual abuse" not in shown and "Access has been denied" not in shown


def test_451_names_who_blocks_in_a_link_header_rfc_7725() -> None:
    page = BlockPage(status=451, blocked_by="https://isp.example/blocking")
    assert page.headers()["Link"] == '<https://isp.example/blocking>; rel="blocked-by"'
    assert "Link" not in BlockPage(status=403, blocked_by="https://isp.example/blocking").headers()
    assert "Link" not in BlockPage(status=451).headers()
    for bad in ("javascript:alert(1)", "https://isp.example/>; rel=x", "https://a.example/\r\nSet-Cookie: x=1"):
        with pytest.raises(BlockPageError, match="blocked_by"):
            BlockPage(status=451, blocked_by=bad)


def test_the_command(tmp_path: Path) -> None:
    """As the README runs it: `--status 451 -o FILE`, `--config FILE --squid-dir DIR`."""
    db = tmp_path / "hw.db"
    shown = hw("url", "block-page", "--status", "451", db=db)
    assert "HTTP 451" in shown.stdout and WORDING in shown.stdout
    hw("url", "block-page", "--status", "451", "-o", str(tmp_path / "blocked.html"), db=db)
    assert "HTTP 451" in (tmp_path / "blocked.html").read_text()
    (tmp_path / "block.json").write_text(json.dumps({"operator": "Example Telecom"}))
    squid = hw("url", "block-page", "--config", str(tmp_path / "block.json"), "--squid-dir", str(tmp_path / "errors"),
               db=db)
    assert "Access has been denied by Example Telecom" in (tmp_path / "errors" / SQUID_PAGE).read_text()
    assert "deny_info 403:ERR_HW_BLOCKED" in squid.stderr
    refused = hw("url", "block-page", "--status", "404", db=db, check=False)
    assert refused.returncode == 1 and "BlockPageError: block page status 404: 403 or 451" in refused.stderr


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    with engine.begin() as conn:
        create_set(conn, "known", kind="alert")
    import_entries(engine, "known", [EntryRecord(md5="0" * 32, line=1)], {"file": "test"})
    yield engine
    engine.dispose()


@pytest.mark.parametrize("status", [403, 451])
def test_the_service_answers_the_page_with_its_status_and_no_key(engine: Any, status: int) -> None:
    with TestClient(create_app(engine, block_page=BlockPage(status=status, operator="Example ISP"))) as client:
        answer = client.get("/blocked")
    assert answer.status_code == status and answer.headers["content-type"].startswith("text/html")
    assert "Access has been denied by Example ISP" in answer.text and answer.headers["cache-control"] == "no-store"
    assert "link" not in answer.headers


def test_the_service_names_who_blocks_with_451(engine: Any) -> None:
    page = BlockPage(status=451, blocked_by="https://isp.example/why", hosts=("block.example.test",))
    with TestClient(create_app(engine, block_page=page)) as client:
        for answer in (client.get("/blocked"), client.get("/x.jpg", headers={"Host": "block.example.test"})):
            assert answer.status_code == 451 and answer.headers["link"] == '<https://isp.example/why>; rel="blocked-by"'


@pytest.mark.heavy
def test_serve_block_page_sets_the_wording_in_every_worker(tmp_path: Path, engine: Any) -> None:
    from tests.service.test_serve import start_serve, wait_for_health

    config = tmp_path / "block.json"
    config.write_text(json.dumps({"status": 451, "operator": "Example Telecom", "appeal": "appeals@isp.example"}))
    refused = hw("serve", "--block-page", str(tmp_path / "missing.json"), db=tmp_path / "hw.db", check=False)
    assert refused.returncode == 1 and "BlockPageError: cannot read" in refused.stderr
    server, url = start_serve(str(tmp_path / "hw.db"), "--block-page", str(config), "--workers", "2")
    try:
        wait_for_health(url, server)
        for _ in range(4):
            answer = httpx.get(f"{url}/blocked", timeout=10)
            assert answer.status_code == 451 and "Access has been denied by Example Telecom" in answer.text
            assert "appeals@isp.example" in answer.text
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_block_host_answers_the_page_at_any_path(fresh_store) -> None:  # noqa: ANN001 - an Engine
    """A browser an RPZ CNAME sent to the block host asks for the blocked URL's own path: the service answers the
    block page there for any path and method, asking for no key; other hosts reach the API as before."""
    from fastapi.testclient import TestClient

    from hashwarden.config import ScanSettings
    from hashwarden.service.app import create_app
    from hashwarden.urllist.block_page import BlockPage

    page = BlockPage(status=451, hosts=("Block.Example.test.",))
    client = TestClient(create_app(fresh_store, ScanSettings(allow_empty=True), block_page=page))
    for method, path in (("GET", "/gallery/1.jpg"), ("POST", "/v1/lookup"), ("GET", "/")):
        answer = client.request(method, path, headers={"Host": "block.example.test:8080"})
        assert answer.status_code == 451 and "child sexual abuse" in answer.text and "gallery" not in answer.text
    assert client.get("/v1/lookup", headers={"Host": "hw.example.test"}).status_code in (401, 405)
    with pytest.raises(BlockPageError, match="hosts"):
        BlockPage(hosts=("bad host\n",))
