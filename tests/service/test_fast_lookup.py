"""The lean path of `POST /v1/lookup` (service/fast_lookup.py): byte for byte the route's answers and audit rows
over generated bodies (hits, misses, PDQ with quality, mixed batches); the route's own answer to every body it is not
sure of; the audit row committed before the answer leaves (a failed commit: 500, no answer); a revoked key refused
at once; the rate limit. On PostgreSQL the route answers everything (the lean path is for local reads)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hashwarden.config import INLINE_LOOKUP_ITEMS, LEAN_LOOKUP_ITEMS, ServiceLimits
from hashwarden.service import audit_group, fast_lookup
from hashwarden.service.app import create_app
from hashwarden.store.identities import revoke_user
from hashwarden.store.schema import audit
from tests.service.conftest import DIGEST_ONLY, Service


@pytest.fixture
def lean(service: Service, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of items of each lookup the lean path answered, in order."""
    answered: list[int] = []
    real = fast_lookup.answer_lines

    def counted(lines: list[dict[str, Any]], matcher: Any) -> Any:
        answer = real(lines, matcher)
        answered.append(len(lines))
        return answer

    monkeypatch.setattr(fast_lookup, "answer_lines", counted)
    return answered


def _route_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every lookup from now on goes to the FastAPI route (the lean path is sure of no body)."""
    monkeypatch.setattr(fast_lookup, "_hash_lines", lambda body: None)


def _flipped(code: str, bits: int, rng: random.Random) -> str:
    value = int(code, 16)
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def _hex(length: int, rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def generated_bodies(service: Service, count: int, seed: int = 17) -> list[dict[str, Any]]:
    """Lookups of 1 to LEAN_LOOKUP_ITEMS items (matched on the event loop up to INLINE_LOOKUP_ITEMS, in a worker
    thread above): the known image's digests (any case) and PDQ (exact, a few bits
    off, far off; with and without quality), the digest-only entry, unknown digests, items of several hashes."""
    rng = random.Random(seed)
    known = service.known

    def item() -> dict[str, Any]:
        kind = rng.choice(["md5", "sha1", "sha256", "pdq", "pdq", "digest-only", "mixed"])
        if kind == "digest-only":
            name = rng.choice(list(DIGEST_ONLY))
            return {name: DIGEST_ONLY[name]}
        if kind == "mixed":
            return {"md5": rng.choice([known["md5"], _hex(32, rng)]),
                    "sha1": rng.choice([known["sha1"], _hex(40, rng)]),
                    "pdq": _flipped(known["pdq"], rng.choice([0, 3, 40]), rng)}
        if kind == "pdq":
            found = {"pdq": _flipped(known["pdq"], rng.choice([0, 1, 8, 20, 31, 32, 90]), rng)}
            if rng.random() < 0.7:
                found["quality"] = rng.choice([0, 10, 49, 50, 80, 100])
            return found
        value = known[kind] if rng.random() < 0.5 else _hex(len(known[kind]), rng)
        return {kind: value.upper() if rng.random() < 0.3 else value}

    sizes = [1, 1, 1, 2, 5, INLINE_LOOKUP_ITEMS, INLINE_LOOKUP_ITEMS + 1, 300, LEAN_LOOKUP_ITEMS]
    return [{"items": [item() for _ in range(rng.choice(sizes))]}
            for _ in range(count)]


def _last_row(service: Service) -> tuple[str, str, dict[str, Any]]:
    with service.engine.connect() as conn:
        row = conn.execute(select(audit).order_by(audit.c.id.desc()).limit(1)).one()
    return row.action, row.actor, json.loads(row.details)


def _answer_and_row(service: Service, body: Any, content: bytes | None = None) -> tuple[Any, ...]:
    headers = {"Authorization": f"Bearer {service.keys['matcher']}", "Content-Type": "application/json"}
    response = service.client.post("/v1/lookup", content=json.dumps(body).encode() if content is None else content,
                                   headers=headers)
    return response.status_code, sorted(response.headers.items()), response.content, _last_row(service)


def test_the_lean_answers_and_audit_rows_are_the_route_s_byte_for_byte(
        service: Service, lean: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = generated_bodies(service, 60)
    assert {len(body["items"]) for body in bodies} >= {1, INLINE_LOOKUP_ITEMS + 1, LEAN_LOOKUP_ITEMS}
    fast = [_answer_and_row(service, body) for body in bodies]
    if service.engine.dialect.name == "sqlite":
        assert lean == [len(body["items"]) for body in bodies]
    else:
        assert lean == []
    _route_only(monkeypatch)
    routed = [_answer_and_row(service, body) for body in bodies]
    assert fast == routed
    assert all(status == 200 for status, *_ in fast)
    matched = [json.loads(content) for _, _, content, _ in fast]
    assert any(result["matches"] for answer in matched for result in answer["results"])  # hits and misses both
    assert any(not result["matches"] for answer in matched for result in answer["results"])
    assert any(match.get("distance") for answer in matched for result in answer["results"]
               for match in result["matches"])


def _malformed(service: Service) -> list[tuple[bytes, str]]:
    """(body, why) of lookups the lean path leaves to the route."""
    known, turned = service.known, service.turned
    bodies: list[Any] = [
        {"items": [{"md5": "xyz" + "0" * 29}]}, {"items": [{"md5": "0" * 31}]}, {"items": [{"md5": "0" * 31 + "\n"}]},
        {"items": [{"md5": known["md5"], "colour": "red"}]}, {"items": [{"quality": 50}]}, {"items": [{}]},
        {"items": [{"md5": known["md5"], "quality": 50}]}, {"items": [{"pdq": known["pdq"], "quality": 101}]},
        {"items": [{"pdq": known["pdq"], "quality": -1}]}, {"items": [{"pdq": known["pdq"], "quality": "50"}]},
        {"items": [{"pdq": known["pdq"], "quality": 50.0}]}, {"items": [{"pdq": known["pdq"], "quality": True}]},
        {"items": [{"md5": None}]}, {"items": [{"md5": known["md5"], "sha1": None}]}, {"items": [{"md5": 12}]},
        {"items": [{"pdq": turned["pdq"], "quality": 90, "pdq_dihedral": turned["pdq_dihedral"]}]},
        {"items": [{"vpdq": [{"frame": 0, "quality": 90, "pdq": known["pdq"]}]}]},
        {"items": []}, {"items": [{"md5": known["md5"]}] * (LEAN_LOOKUP_ITEMS + 1)},
        {"items": [{"md5": known["md5"]}], "more": 1}, {"things": []}, {"items": {"md5": known["md5"]}},
        ["items"], "items", None, 7,
    ]
    padded = b'{"items": [{"md5": "' + known["md5"].encode() + b'"}]' + b" " * fast_lookup.MAX_BODY_BYTES + b"}"
    raw = [padded, b"", b"{", b'{"items": [{"md5": "' + b"0" * 32 + b'"}]} trailing', b"\xff\xfe{}", b"NaN",
           b'{"items": [{"pdq": "' + known["pdq"].encode() + b'", "quality": NaN}]}']
    return [(json.dumps(body).encode(), repr(body)[:60]) for body in bodies] + [(body, repr(body)) for body in raw]


def test_every_body_the_lean_path_is_not_sure_of_gets_the_route_s_answer(
        service: Service, lean: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _malformed(service)
    fast = [_answer_and_row(service, None, content) for content, _ in cases]
    assert lean == []
    _route_only(monkeypatch)
    routed = [_answer_and_row(service, None, content) for content, _ in cases]
    for (_, why), got, expected in zip(cases, fast, routed):
        assert got[:3] == expected[:3], why
    assert {status for status, *_ in fast} == {200, 422}  # an empty list of items is answered, the rest refused


def test_another_content_type_and_a_malformed_hash_go_to_the_route(service: Service, lean: list[int]) -> None:
    key = {"Authorization": f"Bearer {service.keys['matcher']}"}
    body = json.dumps({"items": [{"md5": service.known["md5"]}]})
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        answer = service.client.post("/v1/lookup", content=body, headers={**key, "Content-Type": content_type})
        assert answer.status_code == 200 and answer.json()["results"][0]["matches"]
    answer = service.client.post("/v1/lookup", content=body, headers={**key, "Content-Type": "text/plain"})
    assert answer.status_code == 422
    assert lean == []


def test_the_row_is_committed_before_the_answer_leaves(service: Service, lean: list[int]) -> None:
    app = service.client.app
    body = json.dumps({"items": [{"md5": service.known["md5"]}]}).encode()
    rows_when_answered: list[int] = []

    def committed_rows() -> int:
        with service.engine.connect() as conn:  # another connection: what is committed
            return conn.execute(select(func.count()).select_from(audit)).scalar_one()

    before = committed_rows()

    async def call() -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                rows_when_answered.append(committed_rows())
                assert message["status"] == 200

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/lookup", "raw_path": b"/v1/lookup", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 1), "server": ("testserver", 80), "app": app,
                 "headers": [(b"authorization", f"Bearer {service.keys['matcher']}".encode()),
                             (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
        await app(scope, receive, send)

    asyncio.run(call())
    assert rows_when_answered == [before + 1]
    assert lean == ([1] if service.engine.dialect.name == "sqlite" else [])


def test_a_failed_audit_commit_fails_the_lookup_with_500_and_no_answer(
        service: Service, lean: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(conn: Any, events: Any) -> list[str]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit_group.audit, "append_many", refused)
    answer = service.post("/v1/lookup", {"items": [{"md5": service.known["md5"]}]})
    assert answer.status_code == 500 and answer.json() == {"error": "internal error"}
    assert service.known["md5"] not in answer.text
    assert lean == ([1] if service.engine.dialect.name == "sqlite" else [])


def test_a_revoked_key_is_refused_at_once(service: Service, lean: list[int]) -> None:
    body = {"items": [{"md5": service.known["md5"]}]}
    assert service.post("/v1/lookup", body).status_code == 200
    with service.engine.begin() as conn:
        revoke_user(conn, "matcher-user")
    answer = service.post("/v1/lookup", body)
    assert answer.status_code == 401 and "results" not in answer.text
    assert lean == ([1] if service.engine.dialect.name == "sqlite" else [])


def test_the_rate_limit_applies(service: Service, lean: list[int]) -> None:
    app = create_app(service.engine, limits=ServiceLimits(rate_per_second=0.001, burst=2))
    body = {"items": [{"md5": service.known["md5"]}]}
    headers = {"Authorization": f"Bearer {service.keys['matcher']}"}
    with TestClient(app) as client:
        statuses = [client.post("/v1/lookup", json=body, headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert lean == ([1, 1] if service.engine.dialect.name == "sqlite" else [])


def test_a_store_emptied_while_serving_gets_the_route_s_503(service: Service, lean: list[int]) -> None:
    service.client.app.state.empty_store = "no alert entry (emptied for the test)"
    answer = service.post("/v1/lookup", {"items": [{"md5": service.known["md5"]}]})
    assert answer.status_code == 503 and "emptied for the test" in answer.json()["error"]
    assert lean == []


def test_a_batch_is_matched_in_a_worker_thread_and_a_small_lookup_on_the_loop(
        service: Service, lean: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Above INLINE_LOOKUP_ITEMS the lean path matches off the event loop, so a batch does not hold up the other
    requests of its process; a small lookup stays on the loop (a hand-off costs more than its match). On PostgreSQL
    every lookup goes to the route."""
    handed: list[int] = []
    real = fast_lookup.run_in_threadpool

    async def counted(function: Any, lines: list[dict[str, Any]], matcher: Any) -> Any:
        handed.append(len(lines))
        return await real(function, lines, matcher)

    monkeypatch.setattr(fast_lookup, "run_in_threadpool", counted)
    for size in (1, INLINE_LOOKUP_ITEMS, INLINE_LOOKUP_ITEMS + 1, LEAN_LOOKUP_ITEMS):
        status, *_ = _answer_and_row(service, {"items": [{"md5": service.known["md5"]}] * size})
        assert status == 200
    on_sqlite = service.engine.dialect.name == "sqlite"
    assert lean == ([1, INLINE_LOOKUP_ITEMS, INLINE_LOOKUP_ITEMS + 1, LEAN_LOOKUP_ITEMS] if on_sqlite else [])
    assert handed == ([INLINE_LOOKUP_ITEMS + 1, LEAN_LOOKUP_ITEMS] if on_sqlite else [])
