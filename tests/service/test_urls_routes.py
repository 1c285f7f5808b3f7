"""`POST /v1/urls/check`, `GET /v1/urls/prefixes`, `POST /v1/urls/full-hashes` (service/urls.py), both backends:
answers never carry an entry's text, listed and unlisted URLs answer alike in length and time, the prefix API's
versions and deltas, and an empty list refused."""

from __future__ import annotations

import hashlib
import statistics
import time
from typing import Any

from hashwarden.store.urls import add_entries, remove_entries
from hashwarden.urllist.checker import UrlChecker
from hashwarden.urllist.entries import derive_entry
from hashwarden.urls import expression_hash
from tests.service.conftest import Service

LISTED = [("http://listed.example/gallery/", "path"), ("http://img.example/a.jpg", "image"),
          ("http://whole.example/", "domain")]


def fill_urls(service: Service) -> None:
    with service.engine.begin() as conn:
        add_entries(conn, [derive_entry(url, kind).entry for url, kind in LISTED])
    service.client.app.state.url_list._interval = 0  # every request asks for the version (the test changes it)


def check(service: Service, urls: list[str], role: str = "matcher") -> Any:
    return service.post("/v1/urls/check", {"urls": urls}, role)


def test_check_answers_listed_or_not_with_an_opaque_id(service: Service) -> None:
    fill_urls(service)
    answer = check(service, ["HTTP://LISTED.example/gallery/2024/x.jpg", "http://img.example/%61.jpg#f",
                             "http://sub.whole.example/any", "http://clean.example/", "javascript:alert(1)"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == 1
    assert [(r["index"], r["listed"]) for r in body["results"]] == [(0, True), (1, True), (2, True), (3, False),
                                                                     (4, False)]
    assert len({r["entry"] for r in body["results"][:3]}) == 3 and body["results"][3]["entry"] is None
    assert "javascript" in body["results"][4]["error"]
    for text in ("listed.example", "gallery", "img.example", "whole.example"):  # never an entry's text
        assert text not in answer.text.lower()


def test_listed_and_unlisted_answers_have_one_length(service: Service) -> None:
    fill_urls(service)
    lengths = {check(service, [url]).headers["content-length"]
               for url in ("http://img.example/a.jpg", "http://img.example/b.jpg", "http://whole.example/x",
                           "http://nothing.example/")}
    assert len(lengths) == 1
    many = {check(service, urls).headers["content-length"]
            for urls in (["http://img.example/a.jpg"] * 12, ["http://x.example/"] * 12)}
    assert len(many) == 1


def test_listed_and_unlisted_take_the_same_time(service: Service) -> None:
    """Measured statistically, interleaved so that the machine's load falls on both alike: the checker's own time
    (the code path) and whole requests. Medians within a factor the machine's noise cannot reach by itself but a
    second code path (a database read for a hit, an early return for a miss) would."""
    fill_urls(service)
    with service.engine.connect() as conn:
        checker = UrlChecker.from_store(conn)
    listed, clean = "http://img.example/a.jpg", "http://img.example/b.jpg"
    samples: dict[str, list[float]] = {listed: [], clean: []}
    for _ in range(3000):
        for url in (listed, clean):
            start = time.perf_counter_ns()
            checker.check(url)
            samples[url].append(time.perf_counter_ns() - start)
    ratio = statistics.median(samples[listed]) / statistics.median(samples[clean])
    assert 0.8 < ratio < 1.25, ratio
    http: dict[str, list[float]] = {listed: [], clean: []}
    for _ in range(150):
        for url in (listed, clean):
            start = time.perf_counter()
            check(service, [url])
            http[url].append(time.perf_counter() - start)
    ratio = statistics.median(http[listed]) / statistics.median(http[clean])
    assert 0.67 < ratio < 1.5, ratio


def test_roles_and_an_empty_list(service: Service) -> None:
    assert check(service, ["http://a.example/"]).status_code == 503  # no entry yet: not a clean answer
    fill_urls(service)
    for role in ("matcher", "examiner", "analyst"):
        assert check(service, ["http://a.example/"], role).status_code == 200
    assert check(service, ["http://a.example/"], "admin").status_code == 403
    assert check(service, []).status_code == 422
    assert check(service, ["x" * 9000]).status_code == 422


def test_prefixes_deltas_and_full_hashes(service: Service) -> None:
    fill_urls(service)
    get = service.client.get
    auth = {"Authorization": f"Bearer {service.keys['matcher']}"}
    full = get("/v1/urls/prefixes", headers=auth).json()
    hashes = sorted(expression_hash(derive_entry(url, kind).entry.expression) for url, kind in LISTED)
    assert full == {"version": 1, "prefix_bytes": 4, "prefixes": sorted(h[:4].hex() for h in hashes)}
    with service.engine.begin() as conn:
        remove_entries(conn, [expression_hash("whole.example/")])
        add_entries(conn, [derive_entry("http://new.example/p.html", "page").entry])
    delta = get("/v1/urls/prefixes?since=1", headers=auth).json()
    assert delta == {"version": 3, "since": 1, "prefix_bytes": 4,
                     "added": [hashlib.sha256(b"new.example/p.html").digest()[:4].hex()],
                     "removed": [hashlib.sha256(b"whole.example/").digest()[:4].hex()]}
    assert get("/v1/urls/prefixes?since=9", headers=auth).status_code == 422
    wanted = hashlib.sha256(b"img.example/a.jpg").digest()
    answer = service.post("/v1/urls/full-hashes", {"prefixes": [wanted[:4].hex(), "00000000"]}).json()
    assert answer == {"version": 3, "hashes": [wanted.hex()]}
    assert service.post("/v1/urls/full-hashes", {"prefixes": ["abc"]}).status_code == 422
    # the check sees the change too: a removal unlists, an addition lists
    results = check(service, ["http://whole.example/", "http://new.example/p.html"]).json()["results"]
    assert [r["listed"] for r in results] == [False, True]
