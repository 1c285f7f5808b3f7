"""A running service picks up new index generations without a restart (service/index_refresh.py).

In process: the refresher called by hand switches the app's matcher and health; a failed refresh keeps the old
generation answering and logs it; the background thread, at a short interval, gets there by itself. As real
processes: `hashwarden serve --workers 2`, an import by the CLI in another process, and lookups until every
worker answers with the new entry (a generous deadline, never a timing assertion), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from hashwarden.config import ScanSettings, ServiceLimits
from hashwarden.scan import match_hashes
from hashwarden.scan.match_hashes import generation_for
from hashwarden.service import index_refresh
from hashwarden.service.app import create_app
from hashwarden.store import open_store
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from tests.service.conftest import Service, add_users, fill
from tests.service.test_serve import PROJECT, free_port, wait_for_health

NEW_MD5 = "4" * 32
DEADLINE_SECONDS = 120  # a bound on waiting for the switch on a loaded machine, not a timing assertion


def lookup(client: Any, key: str, md5: str = NEW_MD5) -> list[str]:
    answer = client.post("/v1/lookup", json={"items": [{"md5": md5}]}, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return [m["method"] for m in answer.json()["results"][0]["matches"]]


def test_a_failed_refresh_keeps_serving_the_old_generation_and_says_so(
        service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(service.engine, limits=ServiceLimits(index_refresh_seconds=3600))
    with TestClient(app) as client:
        serving = client.get("/v1/health").json()["index_generation"]
        import_entries(service.engine, "known", [EntryRecord(md5=NEW_MD5, line=1)], {"file": "more"})

        def broken(*_args: Any) -> Any:
            raise OSError("disk full")

        monkeypatch.setattr(index_refresh, "matcher_for", broken)
        with caplog.at_level(logging.ERROR, logger="hashwarden.service.index_refresh"):
            assert app.state.index_refresher.refresh() is False
        assert f"index refresh failed; still serving generation {serving}" in caplog.text
        assert client.get("/v1/health").json()["index_generation"] == serving
        assert lookup(client, service.keys["matcher"]) == []
        assert lookup(client, service.keys["matcher"], service.known["md5"]) == ["md5"]  # still answering
        monkeypatch.setattr(index_refresh, "matcher_for", match_hashes.matcher_for)
        assert app.state.index_refresher.refresh() is True  # the next tick succeeds
        assert lookup(client, service.keys["matcher"]) == ["md5"]


def test_a_store_emptied_while_serving_is_refused_until_entries_are_back(service: Service) -> None:
    """"Not known" from an empty store looks like a clean answer: once the served generation holds no alert entry,
    lookups and uploads are 503 naming why (health still answers), and answered again after an import."""
    from hashwarden.store import create_set
    from hashwarden.store.hashsets import delete_set

    app = create_app(service.engine, limits=ServiceLimits(index_refresh_seconds=3600))
    with TestClient(app) as client:
        with service.engine.begin() as conn:
            delete_set(conn, "known")
        # the lookup in between answers from the old generation without failing on the deleted entries
        assert lookup(client, service.keys["matcher"], service.known["md5"]) == []
        assert app.state.index_refresher.refresh() is True
        headers = {"Authorization": f"Bearer {service.keys['matcher']}"}
        refused = client.post("/v1/lookup", json={"items": [{"md5": service.known["md5"]}]}, headers=headers)
        assert refused.status_code == 503 and "holds no alert entry" in refused.json()["error"]
        upload = client.post("/v1/media", files={"file": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}, headers=headers)
        assert upload.status_code == 503
        assert client.get("/v1/health").status_code == 200
        with service.engine.begin() as conn:
            create_set(conn, "again", "alert")
        import_entries(service.engine, "again", [EntryRecord(md5=NEW_MD5, line=1)], {"file": "more"})
        assert app.state.index_refresher.refresh() is True
        assert lookup(client, service.keys["matcher"]) == ["md5"]


def test_the_background_thread_switches_by_itself(service: Service) -> None:
    assert ServiceLimits().index_refresh_seconds == 2.0  # the README's "every 2 s"
    app = create_app(service.engine, limits=ServiceLimits(index_refresh_seconds=0.05))
    with TestClient(app) as client:
        import_entries(service.engine, "known", [EntryRecord(md5=NEW_MD5, line=1)], {"file": "more"})
        wanted = generation_for(service.engine, ScanSettings())
        deadline = time.monotonic() + DEADLINE_SECONDS
        while client.get("/v1/health").json()["index_generation"] != wanted:
            assert time.monotonic() < deadline, "the refresh thread did not switch"
            time.sleep(0.05)
        assert lookup(client, service.keys["matcher"]) == ["md5"]
    assert not app.state.index_refresh_thread.is_alive()  # stopped with the app


class Http:
    """`post` against a base URL, a new connection each time (as TestClient's `post` takes a path)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", timeout=30, **kwargs)


@contextmanager
def serving(url: str, tmp_path: Path, *options: str) -> Iterator[str]:
    """`hashwarden serve --db url *options` on a free loopback port; its base URL."""
    port = free_port()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-m", "hashwarden", "serve", "--db", url, "--port", str(port),
                               *options], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for_health(base, server).status_code == 200
        yield base
    finally:
        server.terminate()
        server.communicate(timeout=60)


def test_every_worker_answers_an_import_made_by_another_process(
        store_url: str, tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    engine = open_store(store_url)
    fill(engine, images["known"])
    keys, _ = add_users(engine)
    (tmp_path / "new.md5").write_text(f"{NEW_MD5}  new.jpg\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")])}
    with serving(store_url, tmp_path, "--workers", "2", "--index-refresh", "0.5") as base:
        started = httpx.get(f"{base}/v1/health").json()["index_generation"]
        assert lookup(Http(base), keys["matcher"]) == []
        imported = subprocess.run([sys.executable, "-m", "hashwarden", "import", "md5sum", str(tmp_path / "new.md5"),
                                   "--set", "known", "--db", store_url], env=env, capture_output=True, text=True,
                                  timeout=300)
        assert imported.returncode == 0, imported.stderr
        wanted = generation_for(engine, ScanSettings())
        assert wanted != started
        # Each request opens a new connection, which the kernel hands to either worker: 40 answers in a row with
        # the new entry and the new generation leave a worker unasked with probability 2**-39.
        in_a_row, deadline = 0, time.monotonic() + DEADLINE_SECONDS
        while in_a_row < 40:
            assert time.monotonic() < deadline, "not every worker switched to the new generation"
            fresh = lookup(Http(base), keys["matcher"]) == ["md5"] and \
                httpx.get(f"{base}/v1/health").json()["index_generation"] == wanted
            in_a_row = in_a_row + 1 if fresh else 0
            if not fresh:
                time.sleep(0.1)
    engine.dispose()
