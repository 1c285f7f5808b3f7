"""`hashwarden agency create`, `user create|list|revoke|rotate` (issue 17): the key printed once, as the
contract's one JSON object, and working; `user list` never shows it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hashwarden.cli import app
from hashwarden.store import open_store
from hashwarden.store.identities import authenticate


def hw(db: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--db", str(db), *args])
    return result.exit_code, result.stdout


def test_agency_and_user_commands(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    assert hw(db, "agency", "create", "Hotline A")[0] == 0
    code, printed = hw(db, "user", "create", "filter", "--agency", "Hotline A", "--role", "matcher")
    assert code == 0 and printed.endswith("\n") and printed.count("\n") == 1
    created = json.loads(printed)
    assert list(created) == ["user", "agency", "role", "key"]
    assert created | {"key": None} == {"user": "filter", "agency": "Hotline A", "role": "matcher", "key": None}
    engine = open_store(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert authenticate(conn, created["key"]).user == "filter"
    code, listed = hw(db, "user", "list", "--json")
    assert code == 0 and created["key"] not in listed and created["key"].split("_", 2)[2] not in listed
    assert json.loads(listed)["key_id"] == created["key"].split("_")[1]
    code, printed = hw(db, "user", "rotate", "filter")
    rotated = json.loads(printed)
    assert code == 0 and rotated | {"key": None} == created | {"key": None} and rotated["key"] != created["key"]
    with engine.connect() as conn:
        assert authenticate(conn, created["key"]) is None and authenticate(conn, rotated["key"]) is not None
    assert hw(db, "user", "revoke", "filter")[0] == 0
    with engine.connect() as conn:
        assert authenticate(conn, rotated["key"]) is None
    assert json.loads(hw(db, "user", "list", "--json")[1])["revoked_at"]
    assert "filter" in hw(db, "user", "list")[1]
    assert hw(db, "user", "rotate", "filter")[0] == 1  # a revoked user is not brought back
    assert hw(db, "user", "create", "x", "--agency", "nope", "--role", "matcher")[0] == 1
    assert hw(db, "audit", "verify")[0] == 0
