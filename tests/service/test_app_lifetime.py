"""An app that is dropped is freed, with its matcher's memory-mapped index files and their descriptors.

FastAPI caches each endpoint's dependency analysis in a module-level cache keyed by the endpoint function; an
endpoint that closed over its app (the /docs page did) kept every app made alive for the life of the process,
and with it a descriptor per mapped index file: a test worker reached 1,024 descriptors and every archive it
read failed."""

from __future__ import annotations

import gc
import os
import weakref

from fastapi.testclient import TestClient

from hashwarden.service.app import create_app
from tests.service.conftest import Service


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_dropped_app_is_freed_with_its_index_files(service: Service) -> None:
    gc.collect()
    before = _descriptors()
    made = []
    for _ in range(3):
        app = create_app(service.engine)
        with TestClient(app) as client:
            assert client.get("/docs").status_code == 200
            assert client.get("/v1/health").status_code == 200
        made.append(weakref.ref(app))
        del app, client
    assert _descriptors() > before  # the mapped generations hold descriptors while their apps live
    gc.collect()
    assert [ref() for ref in made] == [None, None, None]
    assert _descriptors() <= before


def test_the_worker_app_is_frozen_out_of_the_collector(service: Service, monkeypatch) -> None:
    """`app_from_environment` (each uvicorn worker's app) ends with `gc.freeze()`: what the worker holds for its
    lifetime is no longer walked by every full collection."""
    from hashwarden.service.app import app_from_environment

    monkeypatch.setenv("HASHWARDEN_DB", service.engine.url.render_as_string(hide_password=False))
    gc.unfreeze()
    try:
        app = app_from_environment()
        assert gc.get_freeze_count() > 0
        with TestClient(app) as client:
            assert client.get("/v1/health").status_code == 200
    finally:
        gc.unfreeze()  # the test process's later apps must stay collectable
