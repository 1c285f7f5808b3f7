"""A killed service loses nothing it acknowledged (issue 17): cases are submitted from several clients at once to a
real `hashwarden serve`, the process is SIGKILLed while they are in flight, and after a restart on the same store
every case answered 201 is there, with its items, as sent. On both backends."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import add_users, fill
from tests.service.test_cases import report
from tests.service.test_serve import start_serve, wait_for_health

CLIENTS = 6
KILL_AFTER = 24  # acknowledged cases before the kill


@pytest.mark.heavy
def test_every_acknowledged_case_survives_a_sigkill(store_engine: Any, images: dict[str, dict[str, Any]],
                                                     tmp_path: Path) -> None:
    fill(store_engine, images["known"])
    keys, _ = add_users(store_engine)
    db = store_engine.url.render_as_string(hide_password=False)
    auth = {"Authorization": f"Bearer {keys['examiner']}"}
    with open(tmp_path / "serve.log", "w") as log:
        server, url = start_serve(db, output=log)
        try:
            wait_for_health(url, server)
            acknowledged: dict[int, dict[str, Any]] = {}
            lock, enough, stop = threading.Lock(), threading.Event(), threading.Event()

            def submit(client_no: int) -> None:
                with httpx.Client(timeout=30) as client:
                    for n in range(10_000):
                        if stop.is_set():
                            return
                        sent = report(f"CASE-{client_no}-{n}")
                        try:
                            answer = client.post(f"{url}/v1/cases", json=sent, headers=auth)
                        except httpx.TransportError:
                            return  # the server is gone
                        if answer.status_code == 201:
                            with lock:
                                acknowledged[answer.json()["id"]] = sent
                                if len(acknowledged) >= KILL_AFTER:
                                    enough.set()

            threads = [threading.Thread(target=submit, args=(n,)) for n in range(CLIENTS)]
            for thread in threads:
                thread.start()
            assert enough.wait(300), "the service acknowledged too few cases"
            os.kill(server.pid, signal.SIGKILL)  # with submissions in flight
            server.wait(60)
            stop.set()
            for thread in threads:
                thread.join(60)
        finally:
            if server.poll() is None:
                server.kill()
        assert server.returncode == -signal.SIGKILL
        server, url = start_serve(db, output=log)
        try:
            wait_for_health(url, server)
            with httpx.Client(timeout=30) as client:
                for case_id, sent in acknowledged.items():
                    answer = client.get(f"{url}/v1/cases/{case_id}", headers=auth)
                    assert answer.status_code == 200, case_id
                    assert answer.json()["report"] == sent
        finally:
            server.terminate()
            server.wait(60)
    assert len(acknowledged) >= KILL_AFTER
