"""POST /v1/cases read as it streams (service/case_stream.py, service/cases.py): the split into header and items
does not depend on how the bytes are cut; the bounds of the header and of one item; items checked and written in
batches with the report still all-or-nothing and refusals naming the item's index; the streamed GET; the route's
own body cap; the OpenAPI body; and the body deadline as a minimum rate (steady large body passes, trickle cut)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.exceptions import HTTPException

from hashwarden.config import CASE_BATCH_ITEMS, ServiceLimits
from hashwarden.service import app as app_module
from hashwarden.service.app import create_app
from hashwarden.service.case_stream import ReportSplitter
from hashwarden.store.schema import case_item, case_report
from tests.service.conftest import DIGEST_ONLY, Service
from tests.service.test_cases import report
from tests.service.test_serve import serving


def big_report(count: int, bad_at: int | None = None) -> dict[str, Any]:
    items = [{"path": f"/e/{n}", "md5": f"{n:032x}", "status": "unknown", "matches": [], "note": {"n": n}}
             for n in range(count)]
    if bad_at is not None:
        items[bad_at]["note"] = {"deep": [{"PREVIEW": "x"}]}
    return {**report("BIG"), "items": items}


def split(body: bytes, cut: int, max_header: int = 1 << 20, max_item: int = 1 << 20) -> tuple[Any, list[Any]]:
    splitter = ReportSplitter(max_header, max_item)
    items = []
    for start in range(0, len(body), cut):
        items += splitter.feed(body[start:start + cut])
    items += splitter.close()
    return splitter.header, items


@pytest.mark.parametrize("cut", [1, 7, 4096, 1 << 30])
def test_the_split_does_not_depend_on_how_the_bytes_arrive(cut: int) -> None:
    sent = report()
    # `items` between header keys, and a key that only looks like the items' prefix, kept in the header.
    body = json.dumps({"case": sent["case"], "items": sent["items"], "items.itemx": 1, "tool": sent["tool"]})
    header, items = split(body.encode(), cut)
    assert header == {"case": sent["case"], "items.itemx": 1, "tool": sent["tool"]} and items == sent["items"]


@pytest.mark.parametrize("body, status, words", [
    (b'{"case": "x", "items": {"md5": "ab"}}', 422, "must be an array"),
    (b'{"items": [], "items": []}', 422, "two `items` keys"),
    (b'{"case": "SECRET' + b"x" * 2000 + b'"}', 413, "header (all but its items) above 1024 bytes"),
    (b'{"items": [{"note": "SECRET' + b"x" * 200_000 + b'"}]}', 413, "items.0: an item above 1024 bytes"),
    (b'{"case": "SECRET", "items": [}', 422, "not valid JSON (it is malformed)"),
    (b'{"case": "SECRET", "items": [', 422, "not valid JSON"),
])
def test_bounds_and_malformed_bodies_are_refused_without_echo(body: bytes, status: int, words: str) -> None:
    with pytest.raises(HTTPException) as refused:
        split(body, 4096, max_header=1024, max_item=1024)
    assert refused.value.status_code == status and words in refused.value.detail
    assert "SECRET" not in refused.value.detail


def case_count(service: Service) -> tuple[int, int]:
    with service.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(case_report)).scalar_one(),
                conn.execute(select(func.count()).select_from(case_item)).scalar_one())


def test_a_report_of_several_batches_is_stored_and_streamed_back_as_sent(service: Service) -> None:
    sent = big_report(2 * CASE_BATCH_ITEMS + 1)
    created = service.post("/v1/cases", sent, role="examiner")
    assert created.status_code == 201, created.text
    got = service.client.get(f"/v1/cases/{created.json()['id']}",
                             headers={"Authorization": f"Bearer {service.keys['examiner']}"})
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    stored_items = [{"sha1": None, "sha256": None, "pdq": None, **item} for item in sent["items"]]  # hashes it had none of
    assert got.json()["report"] == {**sent, "items": stored_items} and got.json()["submitted_by"] == "examiner-user"
    assert case_count(service) == (1, len(sent["items"]))


@pytest.mark.parametrize("bad_at", [0, CASE_BATCH_ITEMS, 2 * CASE_BATCH_ITEMS])  # the last batch is the close's
def test_a_bad_item_in_any_batch_is_refused_by_its_index_and_leaves_nothing(service: Service, bad_at: int) -> None:
    refused = service.post("/v1/cases", big_report(2 * CASE_BATCH_ITEMS + 1, bad_at), role="examiner")
    assert refused.status_code == 422
    assert refused.json()["error"].startswith(f"body.items.{bad_at}: Value error, a case holds hashes and "
                                              "metadata only, not preview")
    assert case_count(service) == (0, 0)


def test_a_header_breaking_the_rules_after_the_items_leaves_nothing(service: Service) -> None:
    sent = {**big_report(CASE_BATCH_ITEMS + 1), "extra": 1}  # the unknown key comes after every item
    refused = service.post("/v1/cases", sent, role="examiner")
    assert refused.status_code == 422 and "unknown field(s): 'extra'" in refused.json()["error"]
    no_items = {key: value for key, value in report().items() if key != "items"}
    missing = service.post("/v1/cases", no_items, role="examiner")
    assert missing.status_code == 422 and missing.json()["error"] == "body.items: Field required"
    assert case_count(service) == (0, 0)


def test_the_case_route_has_its_own_body_cap(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "MAX_REQUEST_BYTES", 4096)  # every other route's cap
    sent, larger = json.dumps(big_report(100)).encode(), json.dumps(big_report(101)).encode()
    size = len(sent)
    app = create_app(service.engine, limits=ServiceLimits(max_case_bytes=size + 10))
    examiner = {"Authorization": f"Bearer {service.keys['examiner']}", "Content-Type": "application/json"}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/v1/cases", content=sent, headers=examiner).status_code == 201  # above 4096: its own cap
        over = client.post("/v1/cases", content=larger, headers=examiner)
        lookup = client.post("/v1/lookup", json={"items": [{"md5": "ab" * 16}] * 200},
                             headers={"Authorization": f"Bearer {service.keys['matcher']}"})
    assert over.status_code == 413 and over.json() == {"error": f"request body above {size + 10} bytes"}
    assert lookup.status_code == 413


def test_the_openapi_body_is_the_case_report(service: Service) -> None:
    body = service.client.get("/openapi.json").json()["paths"]["/v1/cases"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] and schema["title"] == "CaseReport"
    assert set(schema["required"]) == {"case", "tool", "sources", "summary", "items"}
    ref = schema["properties"]["items"]["items"]["$ref"]
    pointer = ref.removeprefix("#/").split("/")
    node: Any = service.client.get("/openapi.json").json()
    for part in pointer:  # the reference resolves within the document, to the item's model
        node = node[part.replace("~1", "/")]
    assert node["title"] == "CaseItem" and {"md5", "pdq_quality", "status"} <= node["properties"].keys()


STEADY_BYTES = 40 << 20


@pytest.mark.heavy
def test_a_slow_but_steady_large_body_passes_and_a_trickle_is_cut_off(tmp_path: Path,
                                                                     images: dict[str, dict[str, Any]]) -> None:
    """--body-timeout 1 with --min-body-rate 2000 (KB/s): 40 MB sent at ~10 MB/s takes ~4 s, far past the 1 s a
    fixed total would allow, and is stored; 400 bytes a second is cut off (408) after about the timeout. The
    body is JSON whitespace before the report (legal, and no work for the server), so the time is the client's."""
    sent = report("STEADY")

    def steady() -> Iterator[bytes]:
        for _ in range(STEADY_BYTES >> 20):
            yield b" " * (1 << 20)
            time.sleep(0.1)
        yield json.dumps(sent).encode()

    with serving(tmp_path, images, "--body-timeout", "1", "--min-body-rate", "2000") as (url, keys):
        auth = {"Authorization": f"Bearer {keys['examiner']}", "Content-Type": "application/json"}
        created = httpx.post(f"{url}/v1/cases", content=steady(), headers=auth, timeout=120)  # >= 4 s of sleeps
        assert created.status_code == 201, created.text
        read = httpx.get(f"{url}/v1/cases/{created.json()['id']}", headers=auth, timeout=60)
        assert read.json()["report"] == sent
        port = int(url.rsplit(":", 1)[1])
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall((f"POST /v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {keys['examiner']}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {STEADY_BYTES}\r\n\r\n").encode())
        slow.settimeout(0.25)
        answer, sent_bytes = b"", 0
        while sent_bytes < 100 * 100:  # 25 s of trickle at most
            try:
                chunk = slow.recv(4096)
            except TimeoutError:
                slow.sendall(b" " * 100)
                sent_bytes += 100
                continue
            if not chunk:
                break
            answer += chunk
        slow.close()
    assert sent_bytes < 100 * 100 and answer.startswith(b"HTTP/1.1 408 ")


@pytest.mark.heavy
def test_other_requests_are_served_while_a_large_case_streams_in_slowly(tmp_path: Path,
                                                                        images: dict[str, dict[str, Any]]) -> None:
    """On SQLite the items of a case being received are staged outside the store (store/cases.py CaseWriter):
    written straight into case_item they held the store's write lock while the client sent the rest, and other
    requests' audit rows waited 5 s for it and failed (500). Here the upload has passed its first batch of items and
    has several seconds still to send when the lookups are made. (And `serve --max-case-mb` sets the route's cap.)"""
    body = json.dumps(big_report(30_000)).encode()  # ~3.5 MB, sent 100 KB each half second: ~17 s
    past_first_batch = threading.Event()

    def slowly() -> Iterator[bytes]:
        for n, start in enumerate(range(0, len(body), 100_000)):
            if n == 8:  # ~800 KB: past the first batch of CASE_BATCH_ITEMS items
                past_first_batch.set()
            yield body[start:start + 100_000]
            time.sleep(0.5)

    with serving(tmp_path, images, "--max-case-mb", "10") as (url, keys):
        too_large = httpx.post(f"{url}/v1/cases", content=b" " * 10_000_001, timeout=60, headers={
            "Authorization": f"Bearer {keys['examiner']}", "Content-Type": "application/json"})
        lookup = {"items": [{"md5": DIGEST_ONLY["md5"]}]}
        matcher = {"Authorization": f"Bearer {keys['matcher']}"}
        assert httpx.post(f"{url}/v1/lookup", json=lookup, headers=matcher, timeout=60).status_code == 200
        submitted: list[int] = []
        upload = threading.Thread(target=lambda: submitted.append(httpx.post(
            f"{url}/v1/cases", content=slowly(), timeout=120, headers={
                "Authorization": f"Bearer {keys['examiner']}", "Content-Type": "application/json"}).status_code))
        upload.start()
        assert past_first_batch.wait(60)
        during = [httpx.post(f"{url}/v1/lookup", json=lookup, headers=matcher, timeout=60).status_code
                  for _ in range(3)]
        still_sending = upload.is_alive()
        upload.join(120)
    assert still_sending and during == [200, 200, 200] and submitted == [201]
    assert too_large.status_code == 413 and too_large.json() == {"error": "request body above 10000000 bytes"}
