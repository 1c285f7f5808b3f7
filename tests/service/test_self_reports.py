"""`POST /v1/self-reports` (no key) and the analysts' routes, in process, on both backends: what is stored (hashes,
flags, time, reference; never an address), the abuse limits (per-address bucket before the body, body and field
bounds, proof of work spent once), the review (a confirmation vote publishes the report into the self-report
alert set; a rejection takes it out again), and the page's headers."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hashwarden.config import MAX_SELF_REPORT_BYTES, SELF_REPORT_SET, ServiceLimits
from hashwarden.service.app import create_app
from hashwarden.service.proof_of_work import ProofOfWork, ProofRefused
from hashwarden.service.self_reports import CONTENT_SECURITY_POLICY, PAGE_FILES, QuietAccessLog
from hashwarden.store.hashsets import get_set, iter_entries
from hashwarden.store.schema import audit, self_report, vote
from tests.selfhash.reports import IMAGE, send, solve, with_proof
from tests.service.conftest import Service

EASY = ServiceLimits(self_report_pow_bits=8, self_report_burst=100)
VIDEO = {"md5": "d" * 32, "sha256": "e" * 64, "media_type": "video/mp4",
         "vpdq": [{"frame": 0, "quality": 80, "pdq": "1" * 64, "timestamp": 0.0},
                  {"frame": 30, "quality": 75, "pdq": "2" * 64, "timestamp": 1.0}]}


@pytest.fixture
def client(service: Service) -> TestClient:
    """The app over the service tests' store, with an easy proof of work (8 bits) and room for many reports."""
    with TestClient(create_app(service.engine, limits=EASY), raise_server_exceptions=False) as test_client:
        yield test_client


def analyst(service: Service, role: str = "analyst") -> dict[str, str]:
    return {"Authorization": f"Bearer {service.keys[role]}"}


def test_a_report_is_stored_with_its_hashes_flags_and_reference_and_no_address(service: Service,
                                                                             client: TestClient) -> None:
    answer = send(client, {**IMAGE, "age_band": "13-15", "being_shared": "yes", "md5": "A" * 32})
    assert answer.status_code == 201 and set(answer.json()) == {"reference"}
    reference = answer.json()["reference"]
    assert len(reference) == 14 and reference.count("-") == 2
    with service.engine.connect() as conn:
        row = conn.execute(select(self_report)).mappings().one()
        logged = conn.execute(select(audit.c.action, audit.c.actor, audit.c.details).where(
            audit.c.action == "self_report.receive")).one()
    assert (row["reference"], bytes(row["md5"]), bytes(row["sha256"]), bytes(row["pdq"]), row["pdq_quality"]) == \
        (reference, b"\xaa" * 16, b"\xbb" * 32, b"\xcc" * 32, 90)
    assert (row["age_band"], row["being_shared"], row["status"], row["media_type"]) == \
        ("13-15", "yes", "received", "image/jpeg")
    assert row["created_at"].endswith(":00.000000Z")  # to the minute
    stored = json.dumps({key: (value.hex() if isinstance(value, bytes) else value) for key, value in row.items()})
    assert "testclient" not in stored and "127.0.0.1" not in stored  # no address anywhere in the row
    assert logged.actor == "self-report" and reference in logged.details and "a" * 32 not in logged.details
    got = client.get(f"/v1/self-reports/{reference.lower()}", headers=analyst(service))
    assert got.status_code == 200 and got.json()["md5"] == "a" * 32 and got.json()["age_band"] == "13-15"


def test_a_video_report_keeps_its_frames(service: Service, client: TestClient) -> None:
    reference = send(client, VIDEO).json()["reference"]
    got = client.get(f"/v1/self-reports/{reference}", headers=analyst(service)).json()
    assert got["vpdq"] == VIDEO["vpdq"] and got["vpdq_frames"] == 2 and got["pdq"] is None


@pytest.mark.parametrize("body, problem", [
    ({**IMAGE, "file": "x"}, "unknown field"),
    ({**IMAGE, "image": "/9j/" + "A" * 5000}, "over 4096 characters"),  # file content under any name
    ({**IMAGE, "media_type": "image/" + "a" * 5000}, "over 4096 characters"),
    ({**IMAGE, "vpdq": [{"frame": 0, "quality": 1, "pdq": "1" * 64, "data": "A" * 5000}]}, "over 4096"),
    ({**IMAGE, "pdq": None}, "pdq and quality go together"),
    ({**IMAGE, "age_band": "12"}, "age_band"),
    ({**IMAGE, "md5": "z" * 32}, "md5"),
    ({**VIDEO, "pdq": "c" * 64, "quality": 50}, "not both"),
    ({key: value for key, value in IMAGE.items() if key != "sha256"}, "sha256"),
])
def test_anything_but_hashes_and_flags_is_refused(client: TestClient, body: dict[str, Any], problem: str) -> None:
    answer = client.post("/v1/self-reports", json=with_proof(client, body))
    assert answer.status_code == 422 and problem in answer.json()["error"], answer.text


def test_a_body_above_the_bound_is_413_before_it_is_parsed(client: TestClient) -> None:
    body = json.dumps({**IMAGE, "vpdq": [{"frame": n, "quality": 1, "pdq": "1" * 64} for n in range(8000)]})
    assert len(body) > MAX_SELF_REPORT_BYTES
    answer = client.post("/v1/self-reports", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_the_proof_of_work_must_hold_and_is_spent_once(service: Service, client: TestClient) -> None:
    body = with_proof(client, IMAGE)
    assert client.post("/v1/self-reports", json=body).status_code == 201
    again = client.post("/v1/self-reports", json={**body, "md5": "f" * 32})
    assert again.status_code == 409 and "ask for a new challenge" in again.json()["error"]
    issued = client.get("/v1/self-reports/challenge").json()
    bits, expires, random, mac = issued["challenge"].split(".")
    wrong = next(str(n) for n in range(10_000) if hashlib.sha256(
        f"{issued['challenge']}:{n}".encode()).digest()[0] != 0)  # not even 8 zero bits
    easier = f"1.{expires}.{random}.{mac}"
    for challenge, nonce, message in ((issued["challenge"], wrong, "leading zero bits"),
                                      (easier, solve(easier, 1), "not issued by this service"),
                                      ("18.1.x.y", "0", "malformed")):
        answer = client.post("/v1/self-reports", json={**IMAGE, "challenge": challenge, "nonce": nonce})
        assert answer.status_code == 422 and message in answer.json()["error"], answer.text
    with service.engine.connect() as conn:
        assert len(conn.execute(select(self_report.c.id)).all()) == 1


def test_challenges_expire_and_carry_the_services_difficulty() -> None:
    now = [1_000_000.0]
    work = ProofOfWork(b"k" * 32, 4, 900, clock=lambda: now[0])
    issued = work.issue()
    assert (issued.bits, issued.expires) == (4, 1_000_900) and issued.text.startswith("4.1000900.")
    nonce = solve(issued.text, 4)
    assert len(work.check(issued.text, nonce)) == 64
    now[0] += 901
    with pytest.raises(ProofRefused, match="expired"):
        work.check(issued.text, nonce)
    with pytest.raises(ProofRefused, match="not issued"):
        ProofOfWork(b"other key 123456", 4, 900, clock=lambda: 1_000_000.0).check(issued.text, nonce)
    with pytest.raises(ValueError):
        ProofOfWork(b"short", 4, 900)


def test_the_default_difficulty_is_eighteen_bits(service: Service) -> None:
    """The service's own default: the page solves 18 bits (web/selfhash/pow.mjs), the server checks one hash."""
    answer = service.client.get("/v1/self-reports/challenge").json()
    assert answer["bits"] == 18 and answer["challenge"].startswith("18.")
    assert send(service.client).status_code == 201


def test_each_address_is_limited_before_its_body_is_read(service: Service) -> None:
    limits = ServiceLimits(self_report_pow_bits=4, self_report_burst=2, self_report_per_second=0.001)
    app = create_app(service.engine, limits=limits)
    first = TestClient(app, client=("192.0.2.1", 5000))
    assert [send(first).status_code for _ in range(2)] == [201, 201]
    refused = first.post("/v1/self-reports", content=b"{not json", headers={"Content-Type": "application/json"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1  # the body was never parsed
    assert "from this address" in refused.json()["error"]
    other = TestClient(app, client=("192.0.2.2", 5000))
    assert send(other).status_code == 201  # another address has its own bucket
    challenges = [first.get("/v1/self-reports/challenge").status_code for _ in range(25)]
    assert challenges.count(429) >= 1 and challenges[0] == 200


def test_only_analysts_list_and_review(service: Service, client: TestClient) -> None:
    reference = send(client).json()["reference"]
    for role, status in (("examiner", 403), ("matcher", 403), ("admin", 403)):
        assert client.get("/v1/self-reports", headers=analyst(service, role)).status_code == status
        assert client.post(f"/v1/self-reports/{reference}/confirm", json={"category": "A"},
                           headers=analyst(service, role)).status_code == status
    assert client.get("/v1/self-reports").status_code == 401
    assert client.get(f"/v1/self-reports/{reference}").status_code == 401


def test_listing_pages_and_filters_by_status(service: Service, client: TestClient) -> None:
    references = [send(client, {**IMAGE, "md5": f"{n:032x}"}).json()["reference"] for n in range(3)]
    page = client.get("/v1/self-reports?limit=2", headers=analyst(service)).json()
    assert [r["reference"] for r in page["reports"]] == references[:2] and "next" in page
    rest = client.get(f"/v1/self-reports?limit=2&after={page['next']}", headers=analyst(service)).json()
    assert [r["reference"] for r in rest["reports"]] == references[2:] and "next" not in rest
    client.post(f"/v1/self-reports/{references[1]}/reject", json={"note": "not material"}, headers=analyst(service))
    rejected = client.get("/v1/self-reports?status=rejected", headers=analyst(service)).json()["reports"]
    assert [r["reference"] for r in rejected] == [references[1]] and rejected[0]["reviewed_by"] == "analyst-user"
    assert client.get("/v1/self-reports/0000-0000-0000", headers=analyst(service)).status_code == 404


def test_a_confirmation_vote_publishes_the_report_and_a_rejection_withdraws_it(service: Service,
                                                                              client: TestClient) -> None:
    image = send(client, {**IMAGE, "being_shared": "yes"}).json()["reference"]
    video = send(client, VIDEO).json()["reference"]
    assert client.post(f"/v1/self-reports/{image}/confirm", json={"category": "Z"},
                       headers=analyst(service)).status_code == 422  # a category uk-sentencing does not have
    refused = client.post(f"/v1/self-reports/{image}/confirm", json={"category": "A", "age_band": "old"},
                          headers=analyst(service))  # refused as /v1/votes refuses it (one model): the field named
    assert refused.status_code == 422 and "age_band" in refused.json()["error"], refused.text
    done = client.post(f"/v1/self-reports/{image}/confirm", json={"category": "A", "age_band": "14-15"},
                       headers=analyst(service))
    assert done.status_code == 200, done.text
    assert done.json()["report"]["status"] == "confirmed" and done.json()["set"] == SELF_REPORT_SET
    assert done.json()["version"] == "1"
    assert client.post(f"/v1/self-reports/{video}/confirm", json={"category": "B"},
                       headers=analyst(service)).json()["version"] == "2"
    with service.engine.connect() as conn:
        target = get_set(conn, SELF_REPORT_SET)
        entries = sorted(iter_entries(conn, target.id, frames=True), key=lambda e: e.md5)
        cast = conn.execute(select(vote).where(vote.c.source == "self-report")).mappings().all()
    assert (target.kind, target.source, target.category_scheme) == ("alert", "self-report", "uk-sentencing")
    assert [(e.md5, e.sha256, e.pdq, e.category) for e in entries] == [
        ("a" * 32, "b" * 64, "c" * 64, "A"), ("d" * 32, "e" * 64, None, "B")]
    assert [frame.pdq for frame in entries[1].vpdq] == ["1" * 64, "2" * 64]
    assert entries[0].tags == ["self-report"] and image not in (entries[0].provenance or "")
    assert {(v["reviewer"], v["agency"], v["category"], v["pdq"]) for v in cast} == {
        ("analyst-user", "Hotline A", "A", None), ("analyst-user", "Hotline A", "B", None)}
    withdrawn = client.post(f"/v1/self-reports/{image}/reject", json={}, headers=analyst(service)).json()
    assert withdrawn["version"] == "3" and withdrawn["report"]["status"] == "rejected"
    with service.engine.connect() as conn:
        assert [e.md5 for e in iter_entries(conn, get_set(conn, SELF_REPORT_SET).id)] == ["d" * 32]


def test_the_page_is_served_with_a_policy_allowing_this_origin_only(client: TestClient) -> None:
    page = client.get("/selfhash/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY and "default-src 'none'" in policy and "http" not in policy
    assert "'unsafe-inline'" not in policy and "*" not in policy
    assert "set-cookie" not in page.headers and page.headers["referrer-policy"] == "no-referrer"
    for name, media_type in PAGE_FILES.items():
        served = client.get(f"/selfhash/{name}")
        assert served.status_code == 200 and served.headers["content-type"] == media_type, name
        assert served.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert client.get("/selfhash", follow_redirects=False).headers["location"] == "/selfhash/"
    for other in ("pdq-cli.mjs", "..%2Fapp.py", "missing.mjs"):
        assert client.get(f"/selfhash/{other}").status_code == 404, other


def test_the_access_log_leaves_self_reports_out() -> None:
    quiet = QuietAccessLog()

    def line(path: str) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                                 ("203.0.113.9:5000", "POST", path, "1.1", 201), None)

    assert not quiet.filter(line("/v1/self-reports")) and not quiet.filter(line("/selfhash/pdq.mjs"))
    assert not quiet.filter(line("/v1/self-reports/challenge"))
    assert quiet.filter(line("/v1/lookup"))
    assert any(isinstance(f, QuietAccessLog) for f in logging.getLogger("uvicorn.access").filters)
