"""The overlay: where a published delta's changes to a subscribed set go, and how they are merged into `entry`.

Why: a delta's hashes are random, so applying 100k of them to a 10M-entry set dirtied nearly every leaf page of
each of `entry`'s digest indexes: ~1.45 GB written twice (WAL, then checkpoint), 10-11 s where the bound is 5 s.
The overlay writes what changed and nothing else:
- an addition is a row of `entry_recent` (entry's columns and indexes, small), its vPDQ frames rows of
  `vpdq_frame_recent`;
- a removal of an entry of `entry` is its id in `entry_gone`; a removal of an addition still in the overlay
  deletes that row.
Readers see the live entries through store/live.py. `merge` folds the overlay into `entry` (ids kept, so the
sets' content digests, findings and frames keep referring to the same entries): the rewrite of the indexes is
then paid once for many deltas. It runs before any other change of `entry` (an import, a revision, an NSRL delta:
`store.import_run.start_import`), when a set's overlay passes `MERGE_SHARE` of the set, and on request
(`hashwarden set merge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from hashwarden.store import audit, live
from hashwarden.store.batches import records_as_rows
from hashwarden.store.db import driver_sql, utc_now
from hashwarden.store.frames import add_vpdq_frames, noting_videos
from hashwarden.store.records import EntryRecord, HashSet
from hashwarden.store.schema import entry, entry_gone, entry_recent, vpdq_frame, vpdq_frame_recent
from hashwarden.store.writer import batch_writer

# A set's overlay is merged before a delta is applied to it once it holds more rows (additions and removals)
# than this share of the set's entries: reads then pay a second, small query and a probe per row for the gone
# ids, and a merge of 10 % of a set rewrites about what one full delta would have.
MERGE_SHARE = 0.1
# How long a merge that may be put off (before a delta) waits on PostgreSQL for readers that have the overlay open.
MERGE_LOCK_WAIT = "2s"
_CHUNK = 500  # ids per statement: well under SQLite's bound on parameters


@dataclass(frozen=True)
class Merged:
    """What a merge moved into `entry`: entries added, entries removed; `deferred`: readers had the overlay open
    (PostgreSQL) and the merge was put off."""

    added: int
    removed: int
    deferred: bool = False


def remove(conn: Connection, set_id: int, ids: Sequence[int]) -> int:
    """Remove the live entries `ids` of the set: an addition still in the overlay is deleted (with its frames),
    an entry of `entry` is marked gone. Returns how many went."""
    lowest = conn.execute(select(func.min(entry_recent.c.id)).where(entry_recent.c.set_id == set_id)).scalar()
    maybe = [] if lowest is None else [entry_id for entry_id in ids if entry_id >= lowest]
    recent: list[int] = []  # asked of the table: ids need not be in order (PostgreSQL imports may run meanwhile)
    for start in range(0, len(maybe), _CHUNK):
        recent += conn.execute(select(entry_recent.c.id).where(
            entry_recent.c.id.in_(maybe[start:start + _CHUNK]))).scalars()
    held = set(recent)
    older = [(entry_id, set_id) for entry_id in ids if entry_id not in held]
    if older:  # straight to the driver: 50k rows through Core's executemany cost ~0.3 s more
        conn.exec_driver_sql(driver_sql(conn, "INSERT INTO entry_gone (id, set_id) VALUES (?, ?)"), older)
    removed = len(older)
    for start in range(0, len(recent), _CHUNK):
        removed += conn.execute(entry_recent.delete().where(
            entry_recent.c.set_id == set_id, entry_recent.c.id.in_(recent[start:start + _CHUNK]))).rowcount
    return removed


def add(conn: Connection, target: HashSet, import_id: int, records: list[EntryRecord]) -> int:
    """Add `records` (identities the set does not hold, each once) to the overlay as entries of `target` from
    import `import_id`, with ids above every entry's; returns how many were added."""
    if conn.dialect.name == "sqlite":  # AUTOINCREMENT starts above sqlite_sequence's value (PostgreSQL: a sequence)
        top = live.highest_id(conn)
        if not conn.exec_driver_sql("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'entry_recent'",
                                    (top,)).rowcount:
            conn.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES ('entry_recent', ?)", (top,))
    videos: dict[int, list[Any]] = {}
    write = batch_writer(conn, entry_recent.name, {"set_id": target.id, "import_id": import_id,
                                                   "created_at": utc_now()})
    for batch in records_as_rows(noting_videos(records, videos), target.category_scheme):
        write(batch)
    if videos:
        add_vpdq_frames(conn, import_id, videos, entries=entry_recent, frames=vpdq_frame_recent)
    return len(records)


def due(conn: Connection, set_id: int, entries: int) -> bool:
    """Whether the set's overlay should be merged before more is added to it (`MERGE_SHARE` of its `entries`)."""
    return live.pending(conn, set_id) > MERGE_SHARE * entries


def merge(conn: Connection, actor: str | None = None, wait: bool = True) -> Merged:
    """Fold the whole overlay into `entry` in the caller's transaction, ids kept, and audit it; nothing to do
    (and nothing recorded) without one.

    On PostgreSQL a reader's statements each see what was committed when they began, so one that read `entry`
    before a merge committed and `entry_recent` after it would miss the merged additions, and a matcher built from
    that read would miss them until the sets next changed. Readers look at both overlay tables first
    (`live.present`), which holds a share lock on them to the end of their transaction; the merge takes both
    tables exclusively, so it commits before such a reader begins or after it ends. `wait=False`: a merge that may
    be put off gives up after `MERGE_LOCK_WAIT` (SQLite: readers keep one snapshot, nothing to wait for)."""
    if not live.present(conn):
        return Merged(0, 0)
    if conn.dialect.name == "postgresql":
        if not _locked(conn, wait):
            return Merged(0, 0, deferred=True)
        if not live.present(conn):  # merged by another transaction while this one waited
            return Merged(0, 0)
    added, removed = (conn.execute(select(func.count()).select_from(table)).scalar_one()
                      for table in (entry_recent, entry_gone))  # (a driver's rowcount of INSERT ... SELECT may be -1)
    conn.execute(delete(entry).where(entry.c.id.in_(select(entry_gone.c.id))))  # their frames cascade
    names = [column.name for column in entry.columns]
    conn.execute(insert(entry).from_select(
        names, select(*(entry_recent.c[name] for name in names)).order_by(entry_recent.c.id)))
    frame_names = [column.name for column in vpdq_frame.columns]
    conn.execute(insert(vpdq_frame).from_select(
        frame_names, select(*(vpdq_frame_recent.c[name] for name in frame_names))))
    for table in (vpdq_frame_recent, entry_recent, entry_gone):
        conn.execute(delete(table))
    audit.append(conn, "overlay.merge", {"added": added, "removed": removed}, actor=actor)
    return Merged(added, removed)


def _locked(conn: Connection, wait: bool) -> bool:
    """Take the overlay's tables exclusively (PostgreSQL); without `wait`, only if readers let go in time."""
    statement = "LOCK TABLE entry_recent, entry_gone IN ACCESS EXCLUSIVE MODE"
    if wait:
        conn.exec_driver_sql(statement)
        return True
    try:
        with conn.begin_nested():  # a lock timeout aborts what it ran in: only this savepoint
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{MERGE_LOCK_WAIT}'")
            conn.exec_driver_sql(statement)
            conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
    except OperationalError:
        return False
    return True
