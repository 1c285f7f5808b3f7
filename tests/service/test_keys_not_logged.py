"""API keys are never logged (issue 17): a real `hashwarden -v --log-file F serve` (debug log, uvicorn's access
log) is used with valid, wrong, revoked and malformed keys, on every route; no key, nor the secret part of one,
appears in its output, its log file or any column of any audit row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hashwarden.store import open_store
from hashwarden.store.identities import create_user, revoke_user
from hashwarden.store.schema import audit
from tests.service.conftest import DIGEST_ONLY, add_users, fill
from tests.service.test_cases import report
from tests.service.test_serve import start_serve, wait_for_health


@pytest.mark.heavy
def test_no_key_reaches_the_logs_or_the_audit(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    fill(engine, images["known"])
    keys, revoked = add_users(engine)
    with engine.begin() as conn:
        spare = create_user(conn, "spare", "Hotline A", "examiner")
        revoke_user(conn, "spare")
    good = keys["examiner"]
    wrong = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")  # the right key id, a wrong secret
    tried = [*keys.values(), *revoked.values(), spare, wrong, "hw_0123456789ab_guessedsecretguessedsecret", "junk-key"]
    log_file = tmp_path / "debug.log"
    with open(tmp_path / "output.txt", "w") as output:
        server, url = start_serve(str(db), output=output, global_options=("-v", "--log-file", str(log_file)))
        try:
            wait_for_health(url, server)
            with httpx.Client(timeout=30) as client:
                case_id = client.post(f"{url}/v1/cases", json=report(),
                                      headers={"Authorization": f"Bearer {good}"}).json()["id"]
                for key in tried:
                    auth = {"Authorization": f"Bearer {key}"}
                    client.post(f"{url}/v1/lookup", json={"items": [{"md5": DIGEST_ONLY["md5"]}]}, headers=auth)
                    client.post(f"{url}/v1/lookup", content=b"{not json", headers=auth)  # a 400 path
                    client.post(f"{url}/v1/cases", json={"case": 1}, headers=auth)  # a 422 path
                    for path in ("/v1/cases", f"/v1/cases/{case_id}", "/v1/cases/items?md5=" + "ab" * 16,
                                 "/v1/sets", "/v1/sets/known"):
                        client.get(url + path, headers=auth)
                assert client.get(f"{url}/v1/cases/{case_id}",
                                  headers={"Authorization": f"Bearer {good}"}).status_code == 200
        finally:
            server.terminate()
            server.wait(60)
    written = (tmp_path / "output.txt").read_text() + log_file.read_text()
    assert "GET /v1/sets HTTP/1.1" in written and "POST /v1/cases" in written  # the logs did record the requests
    with engine.connect() as conn:
        audited = " ".join(" ".join(str(value) for value in row) for row in conn.execute(select(audit)))
    assert "service.request" in audited
    for key in tried:
        secret = key.split("_", 2)[-1]
        for text, where in ((written, "log"), (audited, "audit")):
            assert key not in text and secret not in text, (where, key)
