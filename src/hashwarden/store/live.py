"""The live entries of the store: `entry` without the ids the overlay removed, plus the overlay's additions.

Why a module of its own: a published delta is applied to the overlay (store/overlay.py: `entry_gone`,
`entry_recent`, `vpdq_frame_recent`), so every reader of entries or frames must see both, or a removed hash would
still match and an added one would not. Readers write their queries against `entry` and `vpdq_frame` as before and
run them through `rows` (or `count`, `parts`): without an overlay (every store that subscribes to nothing, and a
subscriber's after a merge) that is the query itself, one cheap look at the overlay's tables more; with one, the
query runs twice, once over `entry` less the gone ids and once over the overlay's tables, each by its own indexes.

Why two queries, not one over a UNION ALL: SQLite cannot flatten a compound subquery into a join, so a query
joining it (frames to entries, entries to sets) would copy all 10M entries into a temporary table first.

Order: every id in `entry_recent` lies above every id in `entry` (the overlay's ids start above entry's highest,
and whatever writes `entry` merges the overlay first), so a query ordered by entry id reads in id order across
both parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

from sqlalchemy import Column, Table, exists, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import visitors

from hashwarden.store.schema import entry, entry_gone, entry_recent, vpdq_frame, vpdq_frame_recent

# `entry` and `vpdq_frame` less the rows of the ids gone: what the first part reads instead of the tables. Named
# subqueries of one table with a WHERE, which both backends flatten into the query around them.
_GONE = select(entry_gone.c.id)
_BASE = {
    entry: select(entry).where(entry.c.id.not_in(_GONE)).subquery("live_entry"),
    vpdq_frame: select(vpdq_frame).where(vpdq_frame.c.entry_id.not_in(_GONE)).subquery("live_frame"),
}
_RECENT = {entry: entry_recent, vpdq_frame: vpdq_frame_recent}


def present(conn: Connection) -> bool:
    """Whether the overlay holds anything (two index probes)."""
    return bool(conn.execute(select(exists(select(entry_recent.c.id)) | exists(select(entry_gone.c.id)))).scalar())


def parts(conn: Connection, query: Any) -> list[Any]:
    """`query` (written against `entry` and `vpdq_frame`) as the queries that read the live entries: itself when
    there is no overlay, else one over the older entries still live and one over the overlay's additions."""
    if not present(conn):
        return [query]
    return [_retarget(query, _BASE), _retarget(query, _RECENT)]


def rows(conn: Connection, query: Any) -> Iterator[Any]:
    """The rows of `query` over the live entries (see `parts`), in the order the query asks for where it orders by
    entry id (see the module docstring)."""
    return chain.from_iterable(conn.execute(part) for part in parts(conn, query))


def count(conn: Connection, query: Any) -> int:
    """The sum of a `select(func.count())` over the live entries."""
    return sum(conn.execute(part).scalar_one() for part in parts(conn, query))


def pending(conn: Connection, set_id: int) -> int:
    """Rows the set has in the overlay: additions and removals not merged yet."""
    return sum(conn.execute(select(func.count()).select_from(table).where(table.c.set_id == set_id)).scalar_one()
               for table in (entry_recent, entry_gone))


def highest_id(conn: Connection) -> int:
    """The highest entry id given so far to a live entry, 0 in an empty store: additions get ids above it."""
    return max(conn.execute(select(func.max(entry.c.id))).scalar_one() or 0,
               conn.execute(select(func.max(entry_recent.c.id))).scalar_one() or 0)


def _retarget(query: Any, tables: dict[Table, Any]) -> Any:
    """A copy of `query` reading `tables[t]` wherever it read table `t` (and its columns)."""

    def replace(element: Any) -> Any:
        if isinstance(element, Table) and element in tables:
            return tables[element]
        if isinstance(element, Column) and element.table in tables:
            return tables[element.table].c[element.key]
        return None

    return visitors.replacement_traverse(query, {}, replace)
