"""Item 6 of issue 17 in process: the per-key token bucket (429 + Retry-After), the per-address bucket of failed
authentications, the gatekeeper refusing a caller before a byte of its body is read, a deep JSON body refused in
words, a body that does not arrive in time (408)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hashwarden.config import ServiceLimits
from hashwarden.service.app import create_app
from hashwarden.service.limits import TokenBucket
from tests.service.conftest import DIGEST_ONLY, Service, add_users, fill
from tests.service.test_auth_matrix import protected_routes

BODY = {"items": [{"md5": DIGEST_ONLY["md5"]}]}


class Clock:
    """A clock the test moves by hand: the bucket's refill without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_spends_its_burst_then_says_how_long_to_wait_and_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=0.5, burst=3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [None, None, None]
    assert bucket.take("a") == 2  # one token at 0.5/s: 2 s
    assert bucket.take("b") is None  # another key's bucket is its own
    clock.now += 1.0
    assert bucket.take("a") == 1  # half a token refilled: 1 s more
    clock.now += 1.0
    assert bucket.take("a") is None and bucket.take("a") == 2
    clock.now += 3600
    assert [bucket.take("a") for _ in range(4)] == [None, None, None, 2]  # refilled to the burst, never beyond


def test_bucket_forgets_full_buckets_of_idle_keys() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    for key in range(10_001):
        bucket.take(str(key))
    clock.now += 2
    bucket.take("new")
    assert len(bucket._buckets) < 10  # every idle key's bucket was full again, so it was dropped
    assert bucket.take("new") == 1  # the live one was kept


def test_limits_must_be_positive() -> None:
    for bad in ({"rate_per_second": 0}, {"burst": 0}, {"body_timeout_seconds": 0}, {"keep_alive_seconds": -1},
                {"index_refresh_seconds": 0},
                {"failed_auth_per_second": 0}, {"failed_auth_burst": 0}):
        with pytest.raises(ValueError):
            ServiceLimits(**bad)


@pytest.fixture
def limited(store_engine: Any, images: dict[str, dict[str, Any]]) -> Any:
    """The app with a bucket of 2 requests refilled at 1 a second, its clock in the test's hand."""
    fill(store_engine, images["known"])
    keys, _ = add_users(store_engine)
    app = create_app(store_engine, limits=ServiceLimits(rate_per_second=1, burst=2))
    clock = Clock()
    app.state.rate_limit.clock = clock
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, keys, clock


def test_a_key_past_its_burst_gets_429_with_retry_after_and_others_do_not(limited: Any) -> None:
    client, keys, clock = limited

    def lookup(role: str) -> Any:
        return client.post("/v1/lookup", json=BODY, headers={"Authorization": f"Bearer {keys[role]}"})

    assert [lookup("matcher").status_code for _ in range(2)] == [200, 200]
    refused = lookup("matcher")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert set(refused.json()) == {"error"} and "rate limit" in refused.json()["error"]
    assert lookup("examiner").status_code == 200  # per key, not global
    assert client.get("/v1/health").status_code == 200  # health is not limited
    clock.now += 1
    assert lookup("matcher").status_code == 200


def test_failed_authentications_are_limited_per_address_before_the_key_is_checked(
        store_engine: Any, images: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each 401 costs a PBKDF2 and a query: an address past its failure budget gets 429 with Retry-After without
    either being run, a good key from it included, until the bucket refills; another address is not affected."""
    from hashwarden.service import auth

    fill(store_engine, images["known"])
    keys, _ = add_users(store_engine)
    app = create_app(store_engine, limits=ServiceLimits(failed_auth_per_second=0.5, failed_auth_burst=3))
    clock = Clock()
    app.state.failed_auth.clock = clock
    checked: list[str] = []
    real = auth.authenticate
    monkeypatch.setattr(auth, "authenticate", lambda conn, key, *rest: checked.append(key) or real(conn, key, *rest))
    good = {"Authorization": f"Bearer {keys['matcher']}"}
    with TestClient(app, raise_server_exceptions=False, client=("192.0.2.1", 4000)) as attacker, \
            TestClient(app, raise_server_exceptions=False, client=("192.0.2.2", 4000)) as other:
        bad = [attacker.post("/v1/lookup", json=BODY, headers={"Authorization": f"Bearer hw_{n:012x}_guess"})
               for n in range(3)]
        assert [r.status_code for r in bad] == [401, 401, 401] and len(checked) == 3
        for headers in ({"Authorization": "Bearer hw_000000000009_guess"}, good, {}):
            refused = attacker.post("/v1/lookup", json=BODY, headers=headers)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "2", headers
            assert "failed authentications" in refused.json()["error"]
        assert len(checked) == 3  # no key was looked at once the address was refused
        assert other.post("/v1/lookup", json=BODY, headers=good).status_code == 200  # per address
        assert attacker.post("/v1/lookup", json=BODY, headers=good).status_code == 429
        clock.now += 2
        assert attacker.post("/v1/lookup", json=BODY, headers=good).status_code == 200  # refilled
        assert attacker.get("/v1/health").status_code == 200  # health needs no key and is not limited


def test_a_refused_request_is_not_audited_and_spends_no_route(limited: Any, store_engine: Any) -> None:
    from sqlalchemy import func, select

    from hashwarden.store.schema import audit

    client, keys, _ = limited
    headers = {"Authorization": f"Bearer {keys['matcher']}"}
    with store_engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(audit)).scalar_one()
    statuses = [client.post("/v1/lookup", json=BODY, headers=headers).status_code for _ in range(4)]
    with store_engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(audit)).scalar_one()
    assert statuses == [200, 200, 429, 429] and after - before == 2


def lookup_scope(headers: dict[str, str], method: str = "POST", path: str = "/v1/lookup") -> dict[str, Any]:
    """The ASGI scope of a JSON request (by default POST /v1/lookup) with `headers`."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
            "headers": [(k.lower().encode(), v.encode())
                        for k, v in {"content-type": "application/json", **headers}.items()]}


def run_asgi(app: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Run one request; a bound so that a broken limit fails the test instead of hanging it."""
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 60))


def call_asgi(app: Any, headers: dict[str, str], body: bytes, method: str = "POST",
              path: str = "/v1/lookup") -> tuple[int, dict[str, Any], list[str]]:
    """One request straight into the ASGI app; returns the status, the JSON answer and what the app did
    with the request's body stream ("read" when it asked for the body)."""
    events: list[str] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if "read" in events:
            await asyncio.Event().wait()  # the client waits for the answer: a disconnect never comes
        events.append("read")
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run_asgi(app, lookup_scope({"content-length": str(len(body)), **headers}, method, path), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(answer), events


def test_a_caller_is_refused_before_its_body_is_read(service: Service) -> None:
    """FastAPI reads and parses a route's body before its dependencies run: the gatekeeper must answer first, on
    every protected route of the route table. The body here would be 16 MiB of deep JSON; the app never asks for
    it."""
    app = service.client.app
    deep = b"[" * (16 << 20)
    # The API's routes; the pages (/ui/) are GETs that take no body and answer as pages (test_web_pages.py).
    routes = [route for route in protected_routes(service) if route[1].startswith("/v1/")]
    assert {path for _, path, _ in routes} >= {"/v1/lookup", "/v1/cases"}
    for method, path, check in routes:
        refused_role = next(role for role in ("admin", "matcher") if role not in check.roles)
        for headers, status in (({}, 401), ({"Authorization": "Bearer not-a-key"}, 401),
                                ({"Authorization": f"Bearer {service.revoked['matcher']}"}, 401),
                                ({"Authorization": f"Bearer {service.keys[refused_role]}"}, 403)):
            code, answer, events = call_asgi(app, headers, deep, method, path)
            assert (code, set(answer), events) == (status, {"error"}, []), (method, path, headers)
    code, answer, events = call_asgi(app, {"Authorization": f"Bearer {service.keys['matcher']}"},
                                     json.dumps(BODY).encode())
    assert code == 200 and events == ["read"]  # the same call with a key does read it: the probe can see a read


def test_deep_json_from_a_caller_with_a_key_is_refused_in_words(service: Service) -> None:
    deep = '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = service.client.post("/v1/lookup", content=deep, headers={
        "Authorization": f"Bearer {service.keys['matcher']}", "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500 and set(response.json()) == {"error"}
    assert service.post("/v1/lookup", BODY).status_code == 200  # the process is unharmed


def test_a_body_not_received_in_time_gets_408_and_the_connection_closed(store_engine: Any,
                                                                        images: dict[str, dict[str, Any]]) -> None:
    fill(store_engine, images["known"])
    keys, _ = add_users(store_engine)
    app = create_app(store_engine, limits=ServiceLimits(body_timeout_seconds=0.2))
    sent: list[dict[str, Any]] = []
    chunks = iter([{"type": "http.request", "body": b'{"items": [', "more_body": True}])

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        if chunk is None:
            await asyncio.Event().wait()  # the rest of the body never comes
        return chunk

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run_asgi(app, lookup_scope({"authorization": f"Bearer {keys['matcher']}", "content-length": "1000"}),
             receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 408 and (b"connection", b"close") in start["headers"]
    assert json.loads(sent[-1]["body"])["error"].startswith("request body not received in time: 11 bytes after 0.")


def test_the_defaults_the_readme_states() -> None:
    """README's "Limits" paragraph and retention sentence quote these defaults; a change must update it."""
    from hashwarden.config import MAX_JSON_DEPTH, MAX_REQUEST_BYTES

    defaults = ServiceLimits()
    assert (defaults.rate_per_second, defaults.burst, defaults.body_timeout_seconds, defaults.keep_alive_seconds,
            defaults.header_timeout_seconds, defaults.failed_auth_burst, defaults.failed_auth_per_second,
            defaults.purge_interval_seconds) == (100, 200, 30, 5, 10, 100, 10, 3600)
    assert (MAX_JSON_DEPTH, MAX_REQUEST_BYTES) == (64, 16 << 20)
