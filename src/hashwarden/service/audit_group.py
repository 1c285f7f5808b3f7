"""Group commit of the service's audit rows: the rows of concurrent requests appended in one transaction, in one
hand-off to a worker thread.

Every request appends a hash-chained audit row (service/auth.py) and its answer leaves only once that row is
committed. One transaction per request made the audit a global lock: each took the chain's head for a write
transaction of its own (on SQLite, the database's one write lock, with busy waits between the threads and processes
that want it), so requests queued behind each other's commits (bench/service.py measures it). And each request
handing its append to a worker thread of its own paid a thread hand-off (a future, a wake-up, the GIL taken back)
for a few SQL statements.

Here a request queues its row on its event loop and awaits a future. If no commit is under way on that loop, a
leader task is started: it takes every queued row, appends them with `audit.append_many` in one transaction in the
group's commit thread (a commit can wait for the write lock, so never on the loop), and resolves their futures; rows
queued meanwhile go in its next transaction. So N requests arriving together cost one thread hand-off and one
commit, not N. Nothing changes in what is guaranteed: each request still returns only after its own row is committed
(a failed commit raises in every request of the group), the chain is the same chain (`hashwarden audit verify`), and
the rows of several processes interleave through the head lock as before. The leader is a task of its own, not a
request's coroutine, so a request cancelled while it waits (its client gone) does not strand the others' rows.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from hashwarden.store import audit

_Event = tuple[str, dict[str, Any], str | None]  # (action, details, actor), as `audit.append_many` takes them


@dataclass
class _LoopQueue:
    """The rows waiting on one event loop, and whether its leader task is committing."""

    waiting: list[tuple[_Event, asyncio.Future[str]]] = field(default_factory=list)
    leading: bool = False


class AuditGroup:
    """`append` for the requests of one process, committing the rows that arrive together in one transaction.

    One queue per event loop (a future belongs to its loop; uvicorn runs one per worker, a test client may run
    several one after the other)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # The thread the commits run in: one, as a loop commits one group at a time (and several loops' commits
        # wait for the one write lock anyway); an executor of its own costs 30 us a hand-off where anyio's worker
        # threads (`run_in_threadpool`) cost 47 (its capacity limiter and cancel scope).
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-commit")
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = weakref.WeakKeyDictionary()
        self.commits = 0  # transactions made (tests: concurrent rows shared one)

    async def append(self, action: str, details: dict[str, Any], actor: str | None = None) -> str:
        """Append one event, returning its row hash once its transaction has committed.

        Raises:
            Exception: whatever the group's transaction raised (the row is not in the log).
        """
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _LoopQueue()
        committed: asyncio.Future[str] = loop.create_future()
        queue.waiting.append(((action, details, actor), committed))
        if not queue.leading:
            queue.leading = True
            loop.create_task(self._lead(queue))
        return await committed

    async def _lead(self, queue: _LoopQueue) -> None:
        """Commit the queued rows, a group at a time, until none is left."""
        try:
            while queue.waiting:
                group, queue.waiting = queue.waiting, []
                try:
                    hashes = await asyncio.get_running_loop().run_in_executor(
                        self._committer, self._commit, [event for event, _ in group])
                except Exception as exc:  # noqa: BLE001 - handed to every request of the group, raised there
                    for _, committed in group:
                        if not committed.done():
                            committed.set_exception(exc)
                    continue
                except BaseException:  # the leader cancelled (the loop stopping): so are its waiters
                    for _, committed in group:
                        committed.cancel()
                    raise
                for (_, committed), row_hash in zip(group, hashes):
                    if not committed.done():  # its request may have been cancelled meanwhile
                        committed.set_result(row_hash)
        finally:
            queue.leading = False

    def _commit(self, events: list[_Event]) -> list[str]:
        """One transaction appending `events` in order (in a worker thread)."""
        try:
            with self._engine.begin() as conn:
                return audit.append_many(conn, events)
        finally:
            self.commits += 1
