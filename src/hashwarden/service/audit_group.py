"""Group commit of the service's audit rows: the rows of concurrent requests appended in one transaction.

Every request appends a hash-chained audit row (service/auth.py) and its answer leaves only once that row is
committed. One transaction per request made the audit a global lock: each took the chain's head for a write
transaction of its own (on SQLite, the database's one write lock, with busy waits between the threads and processes
that want it), so requests queued behind each other's commits (bench/service.py measures it).

Here a request queues its row and waits. If no commit is under way, it leads: it appends every queued row (its own
among them) with `audit.append_many` in one transaction, commits, and wakes their requests; rows queued meanwhile
wait for the next commit, led by the first of them. Nothing changes in what is guaranteed: each request still
returns only after its own row is committed (a failed commit raises in every request of the group), the chain is
the same chain (`hashwarden audit verify`), and the rows of several processes interleave through the head lock
as before. There is no thread of its own to start or stop: the leader is always a request's own thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from hashwarden.store import audit


@dataclass
class _Row:
    """One request's row, and what its commit left for it."""

    event: tuple[str, dict[str, Any], str | None]
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False  # committed (row_hash) or failed (error)
    row_hash: str | None = None
    error: BaseException | None = None


class AuditGroup:
    """`append` for many threads of one process, committing the rows that arrive together in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._queue: list[_Row] = []
        self._committing = False
        self.commits = 0  # transactions made (tests: concurrent rows shared one)

    def append(self, action: str, details: dict[str, Any], actor: str | None = None) -> str:
        """Append one event, returning its row hash once its transaction has committed.

        Raises:
            Exception: whatever the group's transaction raised (the row is not in the log).
        """
        row = _Row((action, details, actor))
        with self._lock:
            self._queue.append(row)
            lead = not self._committing  # no commit under way: this request commits the queue
            self._committing = True
        if not lead:
            row.wake.wait()
        if not row.done:  # leading: the first request, or the first queued during the last commit
            self._commit_queue()
        if row.error is not None:
            raise row.error
        assert row.row_hash is not None
        return row.row_hash

    def _commit_queue(self) -> None:
        with self._lock:
            group, self._queue = self._queue, []
        try:
            with self._engine.begin() as conn:
                hashes = audit.append_many(conn, [row.event for row in group])
            for row, row_hash in zip(group, hashes):
                row.row_hash = row_hash
        except BaseException as exc:  # noqa: BLE001 - handed to every request of the group, re-raised there
            for row in group:
                row.error = exc
        self.commits += 1
        with self._lock:
            successor = self._queue[0] if self._queue else None
            if successor is None:
                self._committing = False
        for row in group:
            row.done = True
            row.wake.set()
        if successor is not None:
            successor.wake.set()
