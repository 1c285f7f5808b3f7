"""`/v1/cases` (issue 17): the contract's shapes, a report kept as sent and durable (read back through a new
engine), items found by hash, pagination, another agency's case is 404 for reading and deleting, imagery refused,
and audit rows that hold ids and counts, never a path, a name or a hash."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import select

from hashwarden.store import open_store
from hashwarden.store.identities import create_agency, create_user
from hashwarden.store.schema import audit, case_item, case_report
from tests.service.conftest import Service

SECRET_PATH = "Users/Jane Doe/Pictures/holiday.jpg"  # paths carry names: never in the audit log
MD5, SHA256, PDQ = "ab" * 16, "cd" * 32, "ef" * 32


def report(case: str = "CASE-7") -> dict[str, Any]:
    """A report.json as `hashwarden scan` writes it (report/json_report.py): one unknown image, one error."""
    return {
        "case": case, "tool": {"name": "hashwarden", "version": "0.1.0"},
        "sources": [{"index": 0, "path": "/evidence/disk.E01"}],
        "summary": {"items": 2, "known": 0, "ignorable": 0, "unknown": 1, "error": 1, "skipped": 0, "bytes": 10,
                    "by_category": {}, "by_media": {"image": 1, "other": 1}},
        "items": [
            {"path": SECRET_PATH, "source": 0, "size": 10, "md5": MD5, "sha1": "12" * 20, "sha256": SHA256,
             "media": "image", "format": "jpeg", "pdq": PDQ, "pdq_quality": 90, "status": "unknown", "matches": [],
             "container": ["disk.E01"]},
            {"path": "broken.bin", "source": 0, "size": 0, "md5": None, "sha1": None, "sha256": None,
             "media": "other", "format": None, "pdq": None, "pdq_quality": None, "status": "error",
             "error": "unreadable", "matches": []},
        ],
        "skipped": [{"source": 0, "path": "link", "reason": "symbolic link (not followed)"}],
    }


def other_agency_key(service: Service) -> str:
    with service.engine.begin() as conn:
        create_agency(conn, "Force B")
        return create_user(conn, "b-examiner", "Force B", "examiner")


def send(service: Service, method: str, path: str, key: str, body: Any = None) -> Any:
    return service.client.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})


def test_a_submitted_case_is_201_and_kept_as_sent(service: Service) -> None:
    response = service.post("/v1/cases", report(), role="examiner")
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"id"} and isinstance(response.json()["id"], int)
    case_id = response.json()["id"]
    url = service.engine.url.render_as_string(hide_password=False)
    fresh = open_store(url, create=False)  # committed: another engine (another process) sees it
    try:
        with fresh.connect() as conn:
            (row,) = conn.execute(select(case_report)).all()
            by_hash = conn.execute(select(case_item.c.case_id, case_item.c.position)
                                   .where(case_item.c.sha256 == bytes.fromhex(SHA256))).all()
    finally:
        fresh.dispose()
    assert row.id == case_id and row.items == 2 and by_hash == [(case_id, 0)]  # an item found by its hash
    got = send(service, "GET", f"/v1/cases/{case_id}", service.keys["analyst"])  # same agency, other user
    assert got.status_code == 200
    body = got.json()
    assert body["report"] == report() and body["submitted_by"] == "examiner-user" and body["id"] == case_id


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_another_agencys_case_is_404_like_a_missing_one(service: Service, method: str) -> None:
    case_id = service.post("/v1/cases", report(), role="examiner").json()["id"]
    stranger = other_agency_key(service)
    theirs = send(service, method, f"/v1/cases/{case_id}", stranger)
    missing = send(service, method, f"/v1/cases/{case_id + 1000}", stranger)
    assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()
    assert send(service, "GET", "/v1/cases", stranger).json() == {"cases": []}
    assert send(service, "GET", f"/v1/cases/{case_id}", service.keys["examiner"]).status_code == 200  # still there


def test_delete_by_the_agency(service: Service) -> None:
    case_id = service.post("/v1/cases", report(), role="examiner").json()["id"]
    deleted = send(service, "DELETE", f"/v1/cases/{case_id}", service.keys["analyst"])
    assert deleted.status_code == 200 and deleted.json() == {"id": case_id, "deleted": True, "items": 2}
    assert send(service, "GET", f"/v1/cases/{case_id}", service.keys["examiner"]).status_code == 404
    with service.engine.connect() as conn:
        assert conn.execute(select(case_item)).all() == [] and conn.execute(select(case_report)).all() == []


def test_the_list_pages_by_id(service: Service) -> None:
    ids = [service.post("/v1/cases", report(f"CASE-{n}"), role="examiner").json()["id"] for n in range(5)]
    other = other_agency_key(service)
    send(service, "POST", "/v1/cases", other, report("THEIRS"))
    seen, after = [], None
    while True:
        params = {"limit": 2} if after is None else {"limit": 2, "after": after}
        page = service.client.get("/v1/cases", params=params,
                                  headers={"Authorization": f"Bearer {service.keys['examiner']}"}).json()
        assert len(page["cases"]) <= 2
        seen += page["cases"]
        after = page.get("next")
        if after is None:
            break
    assert [c["id"] for c in seen] == ids and [c["case"] for c in seen] == [f"CASE-{n}" for n in range(5)]
    assert seen[0]["items"] == 2 and seen[0]["summary"]["unknown"] == 1 and seen[0]["submitted_by"] == "examiner-user"
    assert "items" not in seen[0]["summary"] or isinstance(seen[0]["summary"]["items"], int)  # counts, not items


@pytest.mark.parametrize("where, field, value", [
    ("item", "thumbnail", "/9j/4AAQSkZJRg=="), ("item", "Data", "aGVsbG8="), ("top", "image", "x"),
    ("match", "preview", "x"), ("item", "note", "A" * 5000), ("item", "md5", "zz" * 16), ("top", "extra", 1),
    ("summary", "by_media", {"image": "/9j/4AAQSkZJRg=="}),
])
def test_imagery_and_malformed_reports_are_refused(service: Service, where: str, field: str, value: Any) -> None:
    body = copy.deepcopy(report())
    target = {"top": body, "item": body["items"][0], "summary": body["summary"]}.get(where)
    if where == "match":
        body["items"][0]["matches"] = [{"set": "s", "kind": "alert", "method": "md5", "entry": 1}]
        target = body["items"][0]["matches"][0]
    target[field] = value
    response = service.post("/v1/cases", body, role="examiner")
    assert response.status_code == 422 and set(response.json()) == {"error"}
    assert str(value)[:40] not in response.json()["error"]  # the refusal does not echo what was sent
    with service.engine.connect() as conn:
        assert conn.execute(select(case_report)).all() == []


def test_audit_rows_hold_ids_and_counts_only(service: Service) -> None:
    case_id = service.post("/v1/cases", report(), role="examiner").json()["id"]
    send(service, "GET", f"/v1/cases/{case_id}", service.keys["examiner"])
    send(service, "GET", "/v1/cases", service.keys["examiner"])
    send(service, "DELETE", f"/v1/cases/{case_id}", service.keys["examiner"])
    with service.engine.connect() as conn:
        rows = conn.execute(select(audit).order_by(audit.c.id)).all()
    case_rows = [(row.action, json.loads(row.details)) for row in rows if row.action.startswith("case.")
                 or json.loads(row.details).get("endpoint", "").find("/v1/cases") >= 0]
    assert [(a, d.get("endpoint"), d.get("case") or d.get("case_id"), d.get("items")) for a, d in case_rows] == [
        ("case.submit", None, case_id, 2), ("service.request", "POST /v1/cases", case_id, 2),
        ("service.request", "GET /v1/cases/{id}", case_id, 2), ("service.request", "GET /v1/cases", None, 1),
        ("case.delete", None, case_id, 2), ("service.request", "DELETE /v1/cases/{id}", case_id, 2)]
    logged = " ".join(row.details for row in rows)
    for value in (SECRET_PATH, "Jane", "CASE-7", MD5, SHA256, PDQ, "disk.E01"):
        assert value not in logged
