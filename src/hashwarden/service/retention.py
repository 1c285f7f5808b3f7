"""Case retention in the service: expired cases are purged when a service process starts and then every
`purge_interval_seconds` while it runs (`hashwarden cases purge` does the same at any time).

Each process purges on its own schedule; `store.cases.purge_expired` is safe to run in several at once (a case
is deleted and audited once). A case therefore outlives its agency's retention by at most the interval, or
until the next start or `cases purge` when no service runs. Only ids and counts reach the log and the audit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from hashwarden.store.cases import purge_expired

log = logging.getLogger(__name__)


def purge(engine: Engine) -> int:
    """Purge expired cases now, in one transaction; return how many went."""
    with engine.begin() as conn:
        purged = purge_expired(conn)
    if purged:
        log.info("purged %d expired case(s): ids %s", len(purged), [case_id for case_id, _ in purged])
    return len(purged)


def purging(interval: float) -> Any:
    """The app's lifespan: a task purging every `interval` seconds while the app runs (a failed purge is logged
    and tried again at the next interval; it never stops the service)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async def every_interval() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await run_in_threadpool(purge, app.state.engine)
                except Exception:  # noqa: BLE001 - logged; the next interval tries again
                    log.exception("purging expired cases failed")

        task = asyncio.create_task(every_interval())
        try:
            yield
        finally:
            task.cancel()

    return lifespan
