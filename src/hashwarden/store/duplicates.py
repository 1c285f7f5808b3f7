"""Identities repeated within the rows one import loaded (or already in the set): found and removed after the load.

A duplicate shares its strongest digest with the entry it repeats (`schema.DIGEST_COLUMNS`, strongest first), so
each digest's index is scanned once for values occurring more than once; and an import into an empty set whose
strongest digests have no repeated 8-byte prefix cannot hold a duplicate at all, which skips the scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from hashwarden.store.batches import ColumnBatch, RowBatch
from hashwarden.store.schema import DIGEST_COLUMNS, entry

if TYPE_CHECKING:  # NumPy: for a bulk import's column batches only (a delta's rows and small imports need none)
    import numpy as np


class DigestPrefixes:
    """The first 8 bytes of every loaded row's strongest digest, to prove cheaply that an import into an empty
    set holds no repeated identity (a repeat shares its strongest digest with the row it repeats), so the
    index scan of `remove_duplicates` (~1.5 s at 5M rows) can be skipped. Only column batches are followed
    (their rows all have the same digests); a row batch, or more than MAX rows, gives up: the scan then runs.
    A shared prefix of distinct digests only means the scan runs; it never hides a duplicate."""

    MAX = 20_000_000  # 160 MB of prefixes

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = {}
        self._count = 0
        self._given_up = False

    def add(self, batch: RowBatch | ColumnBatch) -> None:
        if self._given_up:
            return
        self._count += len(batch)
        strongest = next((name for name in DIGEST_COLUMNS if isinstance(batch, ColumnBatch) and name in batch.digests),
                         None)
        if strongest is None or self._count > self.MAX:
            self._given_up, self._parts = True, {}
            return
        import numpy as np

        width, blob = batch.digests[strongest]
        heads = np.frombuffer(blob, dtype=np.uint8).reshape(-1, width)[:, :8]
        self._parts.setdefault(strongest, []).append(np.ascontiguousarray(heads).view(np.uint64).ravel())

    def may_repeat(self) -> bool:
        if self._given_up:
            return True
        import numpy as np

        for parts in self._parts.values():
            heads = np.sort(np.concatenate(parts))
            if (heads[1:] == heads[:-1]).any():
                return True
        return False


def remove_duplicates(conn: Connection, set_id: int, import_id: int, after_id: int | None = None) -> int:
    """Delete the entries this import added whose identity was already in the set (or earlier in the file).

    Each digest's index is scanned once for values occurring more than once in the set; only those (rare)
    groups are compared in full. `after_id`: the import's rows all have ids above it and none of them repeats an
    identity the set held before (the staging anti-join kept those out), so only its own rows are grouped, by id
    range: a delta of 100,000 rows into a set of 10M scans 100,000 rows, not 10M.
    """
    removed: set[int] = set()
    columns = [entry.c[name] for name in DIGEST_COLUMNS]
    for name in DIGEST_COLUMNS:
        column = entry.c[name]
        if after_id is not None and conn.dialect.name == "sqlite":
            # SQLite's planner walks the digest's index (already sorted for GROUP BY) and looks up every entry of
            # the database to test its id: 10M lookups for a 100k delta into a 10M set (~10 s a digest). The id
            # range read first and grouped in a small temp B-tree costs what the import added.
            repeated = text(f"SELECT {name} FROM entry NOT INDEXED WHERE id > :after_id AND import_id = :import_id "
                            f"AND {name} IS NOT NULL GROUP BY {name} HAVING count(*) > 1").bindparams(
                after_id=after_id, import_id=import_id)
        elif after_id is not None:
            repeated = (select(column).where(entry.c.id > after_id, entry.c.import_id == import_id,
                                             column.is_not(None))
                        .group_by(column).having(func.count() > 1))
        elif conn.dialect.name == "sqlite":
            # SQLite's planner prefers ix_entry_set (an equality) and then sorts 5M rows in a temp B-tree (12 s);
            # the covering digest index already holds them sorted (1.6 s).
            repeated = text(f"SELECT {name} FROM entry INDEXED BY ix_entry_{name} WHERE {name} IS NOT NULL "
                            f"AND set_id = :set_id GROUP BY {name} HAVING count(*) > 1").bindparams(set_id=set_id)
        else:
            repeated = (
                select(column).where(entry.c.set_id == set_id, column.is_not(None))
                .group_by(column).having(func.count() > 1)
            )
        values = [row[0] for row in conn.execute(repeated)]
        for chunk_start in range(0, len(values), 500):
            chunk = values[chunk_start:chunk_start + 500]
            query = (select(entry.c.id, entry.c.import_id, *columns)
                     .where(entry.c.set_id == set_id, column.in_(chunk)).order_by(entry.c.id))
            first_seen: dict[tuple, int] = {}
            for row in conn.execute(query):
                identity = tuple(bytes(v) if v is not None else None for v in row[2:])
                if identity in first_seen and row.import_id == import_id and row.id not in removed:
                    removed.add(row.id)
                else:
                    first_seen.setdefault(identity, row.id)
    ids = sorted(removed)
    for start in range(0, len(ids), 500):
        conn.execute(entry.delete().where(entry.c.id.in_(ids[start:start + 500])))
    return len(ids)
