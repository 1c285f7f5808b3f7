"""Hostile input (issue 17, "Reliability and security"): SQL injection attempts in every string a client sends
(case report strings, path parameters, set names, query parameters) are stored and answered verbatim and harm
nothing else; JSON bombs (deep nesting, a huge string, a million keys) are refused with a short 4xx in bounded
memory, and the service answers normally afterwards."""

from __future__ import annotations

import copy
import json
import tracemalloc
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from hashwarden.config import MAX_JSON_DEPTH
from hashwarden.store.schema import agency, api_user, entry
from tests.service.conftest import DIGEST_ONLY, Service
from tests.service.test_cases import report

INJECTIONS = ["' OR '1'='1", "'; DROP TABLE case_report; --", "Robert'); DROP TABLE api_user;--",
              '" OR ""="', "1; SELECT pg_sleep(30)", "\\'; DELETE FROM entry; --", "%' OR name LIKE '%",
              "$$; DROP TABLE agency; $$", "') UNION SELECT key_hash FROM api_user --", "a\u0000b"]
LOOKUP = {"items": [{"md5": DIGEST_ONLY["md5"]}]}


def headers(service: Service, role: str = "analyst") -> dict[str, str]:
    return {"Authorization": f"Bearer {service.keys[role]}"}


def counts(service: Service) -> tuple[int, int, int]:
    with service.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(table)).scalar_one()  # type: ignore[return-value]
                     for table in (agency, api_user, entry))


def injected_report(text: str) -> dict[str, Any]:
    """report() with `text` in every string field a scan writes, and as a key and value of extra metadata."""
    body = copy.deepcopy(report(text[:200]))
    body["tool"]["name"] = text
    body["sources"][0]["path"] = text
    body["skipped"][0]["path"] = text
    item = body["items"][0]
    item.update(path=text, format=text, container=[text, text], note=text)
    item[text] = text
    return body


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_a_case_is_stored_and_returned_verbatim(service: Service, text: str) -> None:
    before = counts(service)
    sent = injected_report(text)
    created = service.client.post("/v1/cases", json=sent, headers=headers(service))
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    got = service.client.get(f"/v1/cases/{case_id}", headers=headers(service))
    assert got.status_code == 200 and got.json()["report"] == sent
    listed = service.client.get("/v1/cases", headers=headers(service)).json()["cases"]
    assert [case["case"] for case in listed] == [text[:200]]
    assert counts(service) == before  # agencies, users and entries untouched
    assert service.post("/v1/lookup", LOOKUP).json()["results"][0]["matches"][0]["set"] == "known"


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_path_and_query_parameters_is_a_plain_value(service: Service, text: str) -> None:
    before = counts(service)
    quoted = quote(text, safe="")
    assert service.client.get(f"/v1/sets/{quoted}", headers=headers(service)).status_code in (404, 422)
    sets = service.client.get(f"/v1/sets?after={quoted}", headers=headers(service))
    assert sets.status_code == 200 and all(s["name"] > text for s in sets.json()["sets"])
    for method in ("GET", "DELETE"):
        assert service.client.request(method, f"/v1/cases/{quoted}", headers=headers(service)).status_code in (
            404, 422)
    assert service.client.get(f"/v1/cases?after={quoted}", headers=headers(service)).status_code == 422
    assert service.post("/v1/lookup", {"items": [{"md5": text}]}).status_code == 422
    assert counts(service) == before
    assert service.post("/v1/lookup", LOOKUP).json()["results"][0]["matches"][0]["set"] == "known"


def bombs() -> dict[str, bytes]:
    return {
        "deep": b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "deep in a case": json.dumps(report()).encode()[:-1] + b', "x": ' + b"{\"a\":" * 50_000 + b"1" +
                          b"}" * 50_000 + b"}",
        "huge string": json.dumps({**report(), "case": "x" * (12 << 20)}).encode(),
        "many keys": ("{" + ",".join(f'"k{i}":0' for i in range(400_000)) + "}").encode(),
        "many keys in an item": json.dumps({"items": [{f"k{i}": 0 for i in range(400_000)}]}).encode(),
    }


@pytest.mark.heavy
@pytest.mark.parametrize("path", ["/v1/lookup", "/v1/cases"])
def test_json_bombs_get_a_short_4xx_in_bounded_memory(service: Service, path: str) -> None:
    """Memory: Python's allocations at their peak while the request is served (tracemalloc, the test process is
    the server), bounded loosely by 16 MiB and 20x the body: before the unknown-key check, 400,000 keys cost ~380 MB of
    error objects and an answer of 18 MB naming every key."""
    for name, body in bombs().items():
        tracemalloc.start()
        try:
            answer = service.client.post(path, content=body, headers={
                **headers(service), "Content-Type": "application/json"})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert answer.status_code in (413, 422), (name, answer.status_code)
        assert set(answer.json()) == {"error"} and len(answer.content) < 1000, name
        assert peak < (16 << 20) + 20 * len(body), (name, peak)
        if name.startswith("deep"):
            assert f"nests more than {MAX_JSON_DEPTH} levels" in answer.json()["error"]
    assert service.post("/v1/lookup", LOOKUP).status_code == 200  # the process is unharmed
