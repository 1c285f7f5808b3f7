"""Two service processes against one PostgreSQL (issue 17: how the service scales out): the same lookups get the
same answers from both, a case submitted through one is read through the other, and a key revoked with the CLI
fails at once in both (each request reads the user's row). An import seen by the other process depends on the
index generations and is tested with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hashwarden.cli import app as cli
from hashwarden.store import open_store
from tests.service.conftest import DIGEST_ONLY, add_users, fill
from tests.service.test_cases import report
from tests.service.test_serve import start_serve, wait_for_health


@pytest.mark.heavy
@pytest.mark.postgresql
def test_two_processes_answer_alike_and_a_revocation_is_seen_by_both(
        pg_url: str, images: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    engine = open_store(pg_url)
    fill(engine, images["known"])
    keys, _ = add_users(engine)
    engine.dispose()
    known, other = images["known"], images["other"]
    lookup = {"items": [{"md5": known["md5"]}, {"sha256": known["sha256"]}, {"md5": DIGEST_ONLY["md5"]},
                        {"pdq": known["pdq"], "quality": known["pdq_quality"]},
                        {"pdq": other["pdq"], "quality": other["pdq_quality"]}, {"sha1": "0" * 40}]}
    servers = []
    with open(tmp_path / "serve.log", "w") as log:
        try:
            for _ in range(2):
                server, url = start_serve(pg_url, output=log)
                servers.append((server, url))
            for server, url in servers:
                assert wait_for_health(url, server).json()["store"] == "postgresql"
            (_, first), (_, second) = servers

            def call(url: str, method: str, path: str, role: str, body: Any = None) -> httpx.Response:
                return httpx.request(method, url + path, json=body, timeout=30,
                                     headers={"Authorization": f"Bearer {keys[role]}"})

            answers = [call(url, "POST", "/v1/lookup", "matcher", lookup) for _, url in servers]
            assert [a.status_code for a in answers] == [200, 200] and answers[0].json() == answers[1].json()
            assert [len(r["matches"]) for r in answers[0].json()["results"]] == [1, 1, 1, 1, 0, 0]
            case_id = call(first, "POST", "/v1/cases", "examiner", report()).json()["id"]
            assert call(second, "GET", f"/v1/cases/{case_id}", "examiner").json()["report"] == report()
            revoked = CliRunner().invoke(cli, ["--db", pg_url, "user", "revoke", "examiner-user"])
            assert revoked.exit_code == 0, revoked.output
            for url in (first, second):  # at once: the very next request, in each process
                assert call(url, "GET", f"/v1/cases/{case_id}", "examiner").status_code == 401
                assert call(url, "GET", f"/v1/cases/{case_id}", "analyst").status_code == 200
        finally:
            for server, _ in servers:
                server.terminate()
                server.wait(60)
