"""Which published version of a set (migration 0014) and of the URL list (0015) a subscriber holds: plain functions
taking a connection."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from hashwarden.store.db import utc_now
from hashwarden.store.schema import hash_set, subscription, url_subscription


def held_versions(conn: Connection) -> dict[str, tuple[str, int]]:
    """{set name: (repository, published version)} of every subscribed set."""
    query = (select(hash_set.c.name, subscription.c.repository, subscription.c.version)
             .join(hash_set, hash_set.c.id == subscription.c.set_id))
    return {name: (repository, version) for name, repository, version in conn.execute(query)}


def record_version(conn: Connection, set_id: int, repository: str, version: int) -> None:
    """The set now holds `version` of `repository`'s publication of it (in the caller's transaction)."""
    values = {"repository": repository, "version": version, "updated_at": utc_now()}
    done = conn.execute(update(subscription).where(subscription.c.set_id == set_id).values(**values)).rowcount
    if not done:
        conn.execute(subscription.insert().values(set_id=set_id, **values))


@dataclass(frozen=True)
class UrlSubscription:
    """The URL list follows `repository` at published `version`; subscribe left the local list at `local_version`."""

    repository: str
    version: int
    local_version: int


def held_url_version(conn: Connection) -> UrlSubscription | None:
    """The URL list's subscription, None when it follows no repository."""
    row = conn.execute(select(url_subscription.c.repository, url_subscription.c.version,
                              url_subscription.c.local_version)).first()
    return UrlSubscription(*row) if row is not None else None


def record_url_version(conn: Connection, held: UrlSubscription) -> None:
    """The URL list now holds `held` (in the caller's transaction)."""
    values = {"repository": held.repository, "version": held.version, "local_version": held.local_version,
              "updated_at": utc_now()}
    if not conn.execute(update(url_subscription).where(url_subscription.c.id == 1).values(**values)).rowcount:
        conn.execute(url_subscription.insert().values(id=1, **values))
