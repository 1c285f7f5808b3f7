"""The service's group commit of audit rows (service/audit_group.py), on both backends: rows of concurrent requests
share a transaction, each request returns only once its own row is committed, the chain verifies, and a failed
commit fails every request of its group and leaves nothing behind."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from hashwarden.service import audit_group
from hashwarden.service.audit_group import AuditGroup
from hashwarden.store import audit
from hashwarden.store.schema import audit as audit_table

THREADS = 6


def _rows(engine: Any) -> dict[str, str]:
    """row hash -> actor of every row in the log, read by another connection (what is committed)."""
    with engine.connect() as conn:
        return {row.row_hash: row.actor for row in conn.execute(select(audit_table))}


def _in_threads(group: AuditGroup, count: int) -> tuple[dict[str, str], list[BaseException]]:
    """`count` threads append one row each (actor = its number); their hashes by actor, and what they raised."""
    hashes: dict[str, str] = {}
    errors: list[BaseException] = []

    def one(number: int) -> None:
        try:
            hashes[f"user-{number}"] = group.append("service.request", {"n": number}, actor=f"user-{number}")
        except BaseException as exc:  # noqa: BLE001 - collected for the test
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return hashes, errors


def _holding_first_commit(monkeypatch: pytest.MonkeyPatch, group: AuditGroup, fail_second: bool = False) -> None:
    """The first commit waits until the other threads' rows are queued behind it, so that they must share the
    second (optionally failing) one: a deterministic group, whatever the scheduler does."""
    real = audit.append_many
    calls = []

    def held(conn: Any, events: list[Any]) -> list[str]:
        calls.append(len(events))
        if len(calls) == 1:
            deadline = time.monotonic() + 30
            while len(group._queue) < THREADS - len(events) and time.monotonic() < deadline:
                time.sleep(0.01)
        elif fail_second:
            real(conn, events)  # written, then rolled back with the transaction
            raise RuntimeError("disk full")
        return real(conn, events)

    monkeypatch.setattr(audit_group.audit, "append_many", held)


def test_concurrent_rows_share_one_commit_and_the_chain_verifies(store_engine: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    group = AuditGroup(store_engine)
    _holding_first_commit(monkeypatch, group)
    hashes, errors = _in_threads(group, THREADS)
    assert errors == []
    assert group.commits == 2  # the first row(s), then every row queued meanwhile together
    stored = _rows(store_engine)
    assert {actor: row_hash for row_hash, actor in stored.items() if actor.startswith("user-")} == hashes
    with store_engine.connect() as conn:
        verified = audit.verify(conn)
    assert verified.ok and verified.rows == THREADS, verified.problems


def test_a_failed_group_commit_fails_each_of_its_requests_and_keeps_none(store_engine: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    group = AuditGroup(store_engine)
    _holding_first_commit(monkeypatch, group, fail_second=True)
    hashes, errors = _in_threads(group, THREADS)
    assert hashes and errors and len(hashes) + len(errors) == THREADS
    assert all(str(error) == "disk full" for error in errors)
    assert set(_rows(store_engine)) == set(hashes.values())  # only the first commit's rows are in the log
    monkeypatch.undo()
    after = group.append("service.request", {}, actor="later")  # the group is not stuck after a failure
    with store_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_table)).scalar_one() == len(hashes) + 1
        assert audit.verify(conn).ok and audit.head(conn) == (len(hashes) + 1, after)


def test_each_row_is_committed_when_append_returns(store_engine: Any) -> None:
    group = AuditGroup(store_engine)
    for number in range(3):
        row_hash = group.append("service.request", {"n": number}, actor="one")
        assert row_hash in _rows(store_engine)
    assert group.commits == 3
