"""`GET /v1/health` and the index generation it reports: the key of the generation the process serves, which
moves with every change of a set (import, create, rename, delete) and with nothing else, and which the running app
follows when its refresher runs (service/index_refresh.py; here called by hand, the background thread is given an
interval of an hour). It is a digest of content, not a counter: the same sets again give the same generation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from hashwarden import __version__
from hashwarden.config import ScanSettings, ServiceLimits
from hashwarden.scan.match_hashes import generation_for
from hashwarden.service.app import create_app
from hashwarden.store import create_set
from hashwarden.store.hashsets import delete_set, rename_set
from hashwarden.store.identities import create_agency
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from tests.service.conftest import Service

BY_HAND = ServiceLimits(index_refresh_seconds=3600)


def generation(service: Service) -> str:
    return generation_for(service.engine, ScanSettings())


def lookup(client: TestClient, service: Service, body: dict[str, Any]) -> list[str]:
    answer = client.post("/v1/lookup", json=body, headers={"Authorization": f"Bearer {service.keys['matcher']}"})
    return [m["method"] for m in answer.json()["results"][0]["matches"]]


def test_health_reports_the_generation_the_app_serves(service: Service) -> None:
    app = create_app(service.engine, limits=BY_HAND)
    with TestClient(app) as client:
        started = client.get("/v1/health").json()
        assert started == {"status": "ok", "version": __version__, "store": service.engine.dialect.name,
                           "index_generation": generation(service)}
        body = {"items": [{"md5": "4" * 32}]}
        with service.engine.begin() as conn:
            create_agency(conn, "Another")
        assert lookup(client, service, body) == []  # audit rows of other kinds
        assert generation(service) == started["index_generation"]
        assert app.state.index_refresher.refresh() is False  # nothing to switch to
        import_entries(service.engine, "known", [EntryRecord(md5="4" * 32, line=1)], {"file": "more"})
        after_import = generation(service)
        assert after_import != started["index_generation"]
        # until the refresher runs the app answers from the generation it has, and says so; then from the new one
        held = app.state.matcher
        assert client.get("/v1/health").json()["index_generation"] == started["index_generation"]
        assert lookup(client, service, body) == []
        assert app.state.index_refresher.refresh() is True
        assert client.get("/v1/health").json()["index_generation"] == after_import
        assert lookup(client, service, body) == ["md5"]
        # a lookup in flight keeps the matcher it started with: the old one still answers from its own files
        assert held.match({"md5": "4" * 32}) == [] and held.generation == started["index_generation"]
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
