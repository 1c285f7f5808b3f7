"""Which published version of a set a subscriber holds (migration 0014): plain functions taking a connection."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from hashwarden.store.db import utc_now
from hashwarden.store.schema import hash_set, subscription


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
