"""Case data kept no longer than its agency says, and found by hash (issue 17): `agency create --retention-days`,
`agency retention` (audited), `cases purge`, the purge at service start and while it runs, each deletion audited
with ids and counts only; `GET /v1/cases/items?md5=|sha1=|sha256=|pdq=` answers the caller's agency's items with any of them only,
paged."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from hashwarden.cli import app as cli
from hashwarden.config import ServiceLimits
from hashwarden.service.app import create_app
from hashwarden.store import open_store
from hashwarden.store.cases import purge_expired, save_case
from hashwarden.store.identities import create_agency, create_user, set_retention
from hashwarden.store.schema import agency, audit, case_report
from tests.service.conftest import Service
from tests.service.test_cases import MD5, PDQ, SECRET_PATH, report

OLD = "2020-01-01T00:00:00.000000Z"


def audit_rows(engine: Any, action: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [json.loads(row.details) for row in conn.execute(select(audit).where(audit.c.action == action))]


def case_ids(engine: Any) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(case_report.c.id)).scalars())


def two_agencies(engine: Any) -> dict[str, int]:
    """Agency "Keep 30" (30 days) with an old and a new case, "Keep forever" (no retention) with an old one."""
    with engine.begin() as conn:
        create_agency(conn, "Keep 30", retention_days=30)
        create_agency(conn, "Keep forever")
        create_user(conn, "k30", "Keep 30", "examiner")
        create_user(conn, "kf", "Keep forever", "examiner")
        ids = {"old": save_case(conn, "Keep 30", "k30", report("OLD")),
               "new": save_case(conn, "Keep 30", "k30", report("NEW")),
               "forever": save_case(conn, "Keep forever", "kf", report("FOREVER"))}
        conn.execute(update(case_report).where(case_report.c.id.in_([ids["old"], ids["forever"]]))
                     .values(submitted_at=OLD))
    return ids


def test_purge_deletes_cases_past_their_agencys_retention_and_audits_ids_only(service: Service) -> None:
    ids = two_agencies(service.engine)
    before = case_ids(service.engine)
    with service.engine.begin() as conn:
        assert purge_expired(conn) == [(ids["old"], 2)]
    assert before - case_ids(service.engine) == {ids["old"]}
    (row,) = audit_rows(service.engine, "case.purge")
    assert row == {"case_id": ids["old"], "agency": "Keep 30", "items": 2, "retention_days": 30}
    with service.engine.begin() as conn:
        assert purge_expired(conn) == []  # nothing twice
        # 31 days on, the new case has expired too; the agency without a retention keeps its old one
        assert purge_expired(conn, datetime.now(timezone.utc) + timedelta(days=31)) == [(ids["new"], 2)]
        set_retention(conn, "Keep forever", 1)
        assert purge_expired(conn) == [(ids["forever"], 2)]
    text = json.dumps(audit_rows(service.engine, "case.purge") + audit_rows(service.engine, "agency.retention"))
    assert SECRET_PATH not in text and "OLD" not in text and MD5 not in text


def test_the_service_purges_at_start_and_while_it_runs(service: Service) -> None:
    ids = two_agencies(service.engine)
    app = create_app(service.engine, limits=ServiceLimits(purge_interval_seconds=0.2))
    assert ids["old"] not in case_ids(service.engine) and ids["new"] in case_ids(service.engine)  # at start
    with TestClient(app):
        with service.engine.begin() as conn:
            conn.execute(update(case_report).where(case_report.c.id == ids["new"]).values(submitted_at=OLD))
        deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
        while ids["new"] in case_ids(service.engine):
            assert time.monotonic() < deadline, "the running service did not purge the expired case"
            time.sleep(0.1)
    assert ids["forever"] in case_ids(service.engine)


def hw(db: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def test_agency_retention_and_cases_purge_commands(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    assert hw(db, "agency", "create", "Force A", "--retention-days", "0").exit_code != 0
    assert hw(db, "agency", "create", "Force A", "--retention-days", "400").exit_code == 0
    engine = open_store(f"sqlite:///{db}")
    with engine.begin() as conn:
        create_user(conn, "a", "Force A", "examiner")
        case_id = save_case(conn, "Force A", "a", report())
        conn.execute(update(case_report).values(submitted_at=OLD))
    with engine.connect() as conn:
        assert conn.execute(select(agency.c.retention_days)).scalar_one() == 400
    assert hw(db, "agency", "retention", "No such", "10").exit_code != 0
    result = hw(db, "agency", "retention", "Force A", "10")
    assert result.exit_code == 0 and audit_rows(engine, "agency.retention") == [
        {"agency": "Force A", "retention_days": 10}]
    result = hw(db, "cases", "purge")
    assert result.exit_code == 0 and f"purged 1 case(s): ids {case_id}" in result.stdout
    assert case_ids(engine) == set() and hw(db, "cases", "purge").stdout.startswith("purged 0 case(s)")


def test_items_are_found_by_hash_within_the_callers_agency_only(service: Service) -> None:
    with service.engine.begin() as conn:
        create_agency(conn, "Force B")
        other = create_user(conn, "b", "Force B", "examiner")
    mine = [service.post("/v1/cases", report(f"MINE-{n}"), role="examiner").json()["id"] for n in range(3)]
    theirs = service.client.post("/v1/cases", json=report("THEIRS"),
                                 headers={"Authorization": f"Bearer {other}"}).json()["id"]

    def items(key: str, query: str) -> Any:
        return service.client.get(f"/v1/cases/items?{query}", headers={"Authorization": f"Bearer {key}"})

    for query in (f"md5={MD5}", f"pdq={PDQ}", f"sha256={'CD' * 32}", f"sha1={'12' * 20}"):
        found = items(service.keys["examiner"], query)
        assert found.status_code == 200 and "next" not in found.json(), query
        assert found.json()["items"] == [{"case": case_id, "position": 0, "path": SECRET_PATH} for case_id in mine]
        assert [hit["case"] for hit in items(other, query).json()["items"]] == [theirs]  # never the other's
    pages, query = [], f"md5={MD5}&limit=2"
    while True:
        page = items(service.keys["analyst"], query).json()
        pages.append([hit["case"] for hit in page["items"]])
        if "next" not in page:
            break
        query = f"md5={MD5}&limit=2&after={page['next']}"
    assert pages == [mine[:2], mine[2:]]
    assert items(service.keys["examiner"], f"md5={'00' * 16}").json() == {"items": []}
    assert items(service.keys["examiner"], "").json() == {"items": []}
    either = items(service.keys["examiner"], f"md5={'00' * 16}&pdq={PDQ}").json()["items"]  # any of them
    assert [hit["case"] for hit in either] == mine
    for bad in ("md5=xyz", f"pdq={PDQ[:-2]}", "sha1=" + "1" * 41):
        answer = items(service.keys["examiner"], bad)
        assert answer.status_code == 422 and set(answer.json()) == {"error"}, bad
    assert items(service.keys["matcher"], f"md5={MD5}").status_code == 403
