"""The digest indexes of `entry` during a large import: dropped while the rows go in, built once at the end.

Why: when an import is large next to what the table holds, building an index once costs about one sort of the
table, while maintaining it costs a random B-tree insert per row and index, several times more. Two indexes stay
live: the set index (an import appends rows with rising ids and one set id, so it grows at a single point:
+0.4 s live against 1.7 s rebuilt for 5M rows), and the index of a digest the rows arrive sorted by
(`ordered_by`), which only grows at its end (5M RDSv3 rows: ~5 s less than sorting them all again).
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy.engine import Connection

from hashwarden.store.batches import ColumnBatch, RowBatch
from hashwarden.store.db import page_cache
from hashwarden.store.schema import DIGEST_COLUMNS, attach_postgresql_where, entry

# Drop the indexes and rebuild them at the end when the table is small (rebuilding then costs less than a second)
# or once the import has grown past half of the table.
SMALL_TABLE = 1_000_000
SORT_CACHE_KIB = 8_192  # page cache (KiB) while SQLite builds an index, see create_indexes


class DeferredIndexes:
    """The digest indexes one import into an empty set drops as its batches arrive, to rebuild in `rebuild`.

    Only the indexes of digests this import fills: a partial index skips rows without its digest at no cost,
    while rebuilding it would scan the whole table.
    """

    def __init__(self, conn: Connection, table_rows: int) -> None:
        self._conn = conn
        self._table_rows = table_rows  # rows `entry` held before the import
        self._dropped: set[str] = set()

    def drop_for(self, batch: RowBatch | ColumnBatch, loaded: int) -> None:
        """Drop the indexes `batch` would fill, once the import (`loaded` rows so far) is large next to the table."""
        if not (self._table_rows < SMALL_TABLE or loaded * 2 > self._table_rows):
            return
        for name in set(batch.columns) & set(DIGEST_COLUMNS) - self._dropped - {batch.ordered_by}:
            digest_index(name).drop(self._conn, checkfirst=True)
            self._dropped.add(name)

    def rebuild(self) -> None:
        """Build again every index dropped."""
        if self._dropped:
            create_indexes(self._conn, [digest_index(name) for name in sorted(self._dropped)])


def digest_index(column: str) -> Any:
    """The partial index of `entry` on one digest column (covering the set; migration 0003)."""
    return next(index for index in entry.indexes if index.name == f"ix_entry_{column}")


def create_indexes(conn: Connection, indexes: list[Any]) -> None:
    """Build `indexes`. On SQLite with a small sorter memory (SORT_CACHE_KIB) and worker threads: the sort then
    runs as several cache-sized runs merged, the runs sorted in the background, about twice as fast as one
    256 MiB in-memory sort of 5M keys here (~5 s against ~10 s)."""
    sqlite = conn.dialect.name == "sqlite"
    if conn.dialect.name == "postgresql":
        attach_postgresql_where()  # partial there too: the schema names PostgreSQL's clause only when asked
    if sqlite:
        conn.exec_driver_sql(f"PRAGMA threads = {min(4, os.cpu_count() or 1)}")
    try:
        with page_cache(conn, SORT_CACHE_KIB):
            for index in indexes:
                index.create(conn, checkfirst=True)
    finally:
        if sqlite:
            conn.exec_driver_sql("PRAGMA threads = 0")
