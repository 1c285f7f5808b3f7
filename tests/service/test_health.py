"""`GET /v1/health` and the index generation it reports: a digest of the sets' recorded content that moves with
every change of a set (import, rename, delete) and with nothing else, and that names the snapshot the running
app's Matcher holds (a restart picks up a change, until index generations are switched live). It is a digest of
content, not a counter: the same sets again give the same generation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hashwarden import __version__
from hashwarden.service.app import create_app
from hashwarden.store import audit, create_set
from hashwarden.store.hashsets import delete_set, rename_set
from hashwarden.store.identities import create_agency
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from tests.service.conftest import Service


def generation(service: Service) -> str:
    with service.engine.connect() as conn:
        return audit.recorded_generation(conn)


def test_health_reports_the_generation_the_app_was_built_from(service: Service) -> None:
    started = service.client.get("/v1/health").json()
    assert started == {"status": "ok", "version": __version__, "store": service.engine.dialect.name,
                       "index_generation": generation(service)}
    body = {"items": [{"md5": "4" * 32}]}
    with service.engine.begin() as conn:
        create_agency(conn, "Another")
    assert service.post("/v1/lookup", body).status_code == 200  # audit rows of other kinds
    assert generation(service) == started["index_generation"]
    import_entries(service.engine, "known", [EntryRecord(md5="4" * 32, line=1)], {"file": "more"})
    after_import = generation(service)
    assert after_import != started["index_generation"]
    # the running app answers from its snapshot, and says so; a new app (a restart) has the import
    assert service.client.get("/v1/health").json()["index_generation"] == started["index_generation"]
    assert service.post("/v1/lookup", body).json()["results"][0]["matches"] == []
    with TestClient(create_app(service.engine)) as restarted:
        assert restarted.get("/v1/health").json()["index_generation"] == after_import
        found = restarted.post("/v1/lookup", json=body, headers={"Authorization": f"Bearer {service.keys['analyst']}"})
        assert [m["method"] for m in found.json()["results"][0]["matches"]] == ["md5"]
    seen = [after_import]
    with service.engine.begin() as conn:
        create_set(conn, "second", "ignorable")
    seen.append(generation(service))
    with service.engine.begin() as conn:
        rename_set(conn, "second", "third")
    seen.append(generation(service))
    with service.engine.begin() as conn:
        delete_set(conn, "third")
    seen.append(generation(service))
    assert len(set(seen[:3])) == 3
    assert seen[3] == after_import  # a digest of the content: the same sets again are the same generation
