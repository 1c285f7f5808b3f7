"""`GET /v1/sets`, `GET /v1/sets/{name}` (issue 17): the same fields as `set list/show --json` (one
implementation), pagination, 404 for an unknown set, and the audit row."""

from __future__ import annotations

import json

from sqlalchemy import select

from hashwarden.store import create_set
from hashwarden.store.schema import audit
from tests.service.conftest import Service


def get(service: Service, path: str, role: str = "analyst", **params: object):
    return service.client.get(path, params=params, headers={"Authorization": f"Bearer {service.keys[role]}"})


def test_one_set_shows_counts_version_and_imports(service: Service) -> None:
    response = get(service, "/v1/sets/known")
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("name", "kind", "category_scheme", "entries")} == {
        "name": "known", "kind": "alert", "category_scheme": "uk-sentencing", "entries": 2}
    assert "version" in body and "id" not in body  # the summary's fields: no database id
    (run,) = body["imports"]
    assert run["added"] == 2 and run["file"] == "test"


def test_an_unknown_set_is_404_with_a_json_error(service: Service) -> None:
    response = get(service, "/v1/sets/nothing-here")
    assert response.status_code == 404 and set(response.json()) == {"error"}


def test_the_list_pages_by_name(service: Service) -> None:
    with service.engine.begin() as conn:
        for name in ("b-set", "a-set", "Z-set"):
            create_set(conn, name, "ignorable")
    first = get(service, "/v1/sets", limit=2).json()
    assert [s["name"] for s in first["sets"]] == ["Z-set", "a-set"] and first["next"] == "a-set"
    second = get(service, "/v1/sets", limit=2, after=first["next"]).json()
    assert [s["name"] for s in second["sets"]] == ["b-set", "known"] and "next" not in second
    assert second["sets"][1]["entries"] == 2 and second["sets"][0]["entries"] == 0
    assert get(service, "/v1/sets", limit=0).status_code == 422


def test_set_reads_are_audited(service: Service) -> None:
    get(service, "/v1/sets")
    get(service, "/v1/sets/known")
    with service.engine.connect() as conn:
        rows = [json.loads(r.details) for r in conn.execute(
            select(audit.c.details).where(audit.c.action == "service.request").order_by(audit.c.id))]
    assert [(r["endpoint"], r["outcome"], r["items"]) for r in rows] == [
        ("GET /v1/sets", "ok", 1), ("GET /v1/sets/{name}", "ok", 1)]
