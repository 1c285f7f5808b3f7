"""The service's group commit of audit rows (service/audit_group.py), on both backends: rows of concurrent requests
share a transaction, each request returns only once its own row is committed, the chain verifies, a failed
commit fails every request of its group and leaves nothing behind, and a request cancelled while waiting strands
no other."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from hashwarden.service import audit_group
from hashwarden.service.audit_group import AuditGroup
from hashwarden.store import audit
from hashwarden.store.schema import audit as audit_table

THREADS = 6  # requests appending at once


def _rows(engine: Any) -> dict[str, str]:
    """row hash -> actor of every row in the log, read by another connection (what is committed)."""
    with engine.connect() as conn:
        return {row.row_hash: row.actor for row in conn.execute(select(audit_table))}


def _together(group: AuditGroup, count: int, begun: list[int] | None = None,
              cancel: int | None = None) -> tuple[dict[str, str], list[BaseException]]:
    """`count` requests on one event loop append one row each (actor = its number); their hashes by actor, and
    what they raised. With `begun` (what `_holding_first_commit` returned) the others start once the first's commit
    is under way; `cancel` names a request cancelled while its row waits (its client gone)."""
    hashes: dict[str, str] = {}
    errors: list[BaseException] = []

    async def one(number: int) -> None:
        try:
            hashes[f"user-{number}"] = await group.append("service.request", {"n": number}, actor=f"user-{number}")
        except Exception as exc:  # noqa: BLE001 - collected for the test
            errors.append(exc)

    async def run() -> None:
        first = asyncio.ensure_future(one(0))
        while begun is not None and not begun:
            await asyncio.sleep(0.01)
        others = [asyncio.ensure_future(one(number)) for number in range(1, count)]
        if cancel is not None:
            await asyncio.sleep(0)
            others[cancel - 1].cancel()
        await asyncio.wait_for(asyncio.gather(first, *others, return_exceptions=True), 60)

    asyncio.run(run())
    return hashes, errors


def _holding_first_commit(monkeypatch: pytest.MonkeyPatch, group: AuditGroup, fail_second: bool = False) -> list[int]:
    """The first commit waits until the other requests' rows are queued behind it, so that they must share the
    second (optionally failing) one: a deterministic group, whatever the scheduler does. Returns the sizes of the
    commits begun, as they begin."""
    real = audit.append_many
    begun: list[int] = []

    def held(conn: Any, events: list[Any]) -> list[str]:
        begun.append(len(events))
        if len(begun) == 1:
            deadline = time.monotonic() + 30
            while _queued(group) < THREADS - len(events) and time.monotonic() < deadline:
                time.sleep(0.01)
        elif fail_second:
            real(conn, events)  # written, then rolled back with the transaction
            raise RuntimeError("disk full")
        return real(conn, events)

    monkeypatch.setattr(audit_group.audit, "append_many", held)
    return begun


def _queued(group: AuditGroup) -> int:
    return sum(len(queue.waiting) for queue in list(group._queues.values()))


def test_concurrent_rows_share_one_commit_and_the_chain_verifies(store_engine: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    group = AuditGroup(store_engine)
    begun = _holding_first_commit(monkeypatch, group)
    hashes, errors = _together(group, THREADS, begun)
    assert errors == []
    assert group.commits == 2 and begun == [1, THREADS - 1]  # the first row, then every row queued meanwhile
    stored = _rows(store_engine)
    assert {actor: row_hash for row_hash, actor in stored.items() if actor.startswith("user-")} == hashes
    with store_engine.connect() as conn:
        verified = audit.verify(conn)
    assert verified.ok and verified.rows == THREADS, verified.problems


def test_a_failed_group_commit_fails_each_of_its_requests_and_keeps_none(store_engine: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    group = AuditGroup(store_engine)
    begun = _holding_first_commit(monkeypatch, group, fail_second=True)
    hashes, errors = _together(group, THREADS, begun)
    assert len(hashes) == 1 and len(errors) == THREADS - 1
    assert all(str(error) == "disk full" for error in errors)
    assert set(_rows(store_engine)) == set(hashes.values())  # only the first commit's rows are in the log
    monkeypatch.undo()
    after = asyncio.run(group.append("service.request", {}, actor="later"))  # not stuck after a failure
    with store_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_table)).scalar_one() == len(hashes) + 1
        assert audit.verify(conn).ok and audit.head(conn) == (len(hashes) + 1, after)


def test_each_row_is_committed_when_append_returns(store_engine: Any) -> None:
    group = AuditGroup(store_engine)

    async def one_after_another() -> None:
        for number in range(3):
            row_hash = await group.append("service.request", {"n": number}, actor="one")
            assert row_hash in _rows(store_engine)

    asyncio.run(one_after_another())
    assert group.commits == 3


def test_requests_arriving_together_share_one_commit(store_engine: Any) -> None:
    group = AuditGroup(store_engine)
    hashes, errors = _together(group, THREADS)
    assert errors == [] and group.commits == 1
    assert {actor: row_hash for row_hash, actor in _rows(store_engine).items()} == hashes


def test_a_request_cancelled_while_its_row_waits_strands_no_other(store_engine: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    group = AuditGroup(store_engine)
    begun = _holding_first_commit(monkeypatch, group)
    hashes, errors = _together(group, THREADS, begun, cancel=2)
    assert errors == [] and len(hashes) == THREADS - 1 and "user-2" not in hashes
    with store_engine.connect() as conn:  # its row was committed with the group's all the same
        assert audit.verify(conn).ok and audit.head(conn)[0] == THREADS
