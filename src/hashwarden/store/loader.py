"""Bulk import of hash lists: atomic, idempotent, provenance kept, and as fast as SQLite allows from Python.

The one loader every import ends in (`add_rows`). Rows go in batches straight to the DBAPI driver
(`store.writer`: executemany or one `INSERT ... SELECT` over `json_each` on SQLite, COPY on PostgreSQL). Readers
of big lists (md5sum, RDSv3) hand over ready `ColumnBatch`es (whole columns) or `RowBatch`es (`store.batches`),
read one ahead in a thread (`store.readahead`); other readers hand over `EntryRecord`s, converted column by
column (`batches.records_as_rows`). When an import is large next to what the table holds, the digest indexes are
dropped and built once at the end (`store.indexes`). Big imports run with SQLite's rollback journal when they
have the database to themselves (`store.db.rollback_journal`, chosen by `formats.exchange`). Measured in
bench/import.py against the sqlite3 shell's `.import` of the same rows into a table with the same indexes.

Idempotence: an entry is identified within its set by its four hashes (md5, sha1, sha256, pdq; null-safe), and a
video that has none of them by its vPDQ frames (`vpdq_sha256`, `schema.DIGEST_COLUMNS`). A record whose identity
is already in the set is not added again; the existing entry keeps its first provenance (`import_id`, `line`),
and the new `import_run` row counts it as a duplicate. Records repeated inside one file
count the same way. Into a set that has entries, rows go through a staging table and an indexed anti-join
(`store.staging`), so a re-import writes nothing; repeats inside the loaded rows are then found through the
digest indexes (`store.duplicates`): one index-only scan when there are none.

Atomicity: everything happens in the caller's single transaction, so a malformed record anywhere in the file,
raised by the reader as `FormatError`, leaves the database as it was (rolled back).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from hashwarden.store.batches import ColumnBatch, RowBatch, records_as_rows
from hashwarden.store.db import rollback_journal, utc_now
from hashwarden.store.duplicates import DigestPrefixes, remove_duplicates
from hashwarden.store.frames import add_vpdq_frames, noting_videos
from hashwarden.store.hashsets import get_set
from hashwarden.store.import_run import finish_import, highest_entry_id, record_import, start_import
from hashwarden.store.indexes import DeferredIndexes
from hashwarden.store.readahead import read_ahead
from hashwarden.store.records import EntryRecord, HashSet, ImportResult
from hashwarden.store.schema import entry
from hashwarden.store.staging import create_staging, insert_new_from_staging
from hashwarden.store.writer import batch_writer


def import_entries(engine: Engine, set_name: str, records: Iterable[EntryRecord], details: dict[str, Any]) -> int:
    """Add records to a set in ONE transaction with its audit row; return how many entries were new.

    A thin front to `import_list` for callers that hold records, not a file (the demo, tests): `details` may
    carry the `format` and `file` the import is recorded under.

    Raises:
        StoreError: unknown set.
        FormatError: from the records iterator; the transaction is rolled back.
    """
    details = dict(details)
    result = import_list(engine, set_name, records, fmt=str(details.pop("format", "records")),
                         file=str(details.pop("file", "")), details=details)
    return result.added


def import_list(
    engine: Engine, set_name: str, records: Iterable[EntryRecord], *, fmt: str, file: str,
    file_sha256: str | None = None, details: dict[str, Any] | None = None,
) -> ImportResult:
    """Import `records` into the set `set_name` in ONE transaction, with its import_run and audit rows.

    Raises:
        StoreError: unknown set.
        FormatError: from the records iterator; nothing is imported.
    """
    with engine.begin() as conn:
        result = load(conn, get_set(conn, set_name), records, fmt=fmt, file=file, file_sha256=file_sha256)
        record_import(conn, set_name, result, fmt=fmt, file=file, file_sha256=file_sha256, details=details)
    return result


def load(
    conn: Connection, target: HashSet, records: Iterable[EntryRecord], *, fmt: str, file: str,
    file_sha256: str | None = None,
) -> ImportResult:
    """Load records into `target` within the caller's transaction; see the module docstring for the method."""
    import_id = start_import(conn, target, fmt=fmt, file=file, file_sha256=file_sha256)
    above = highest_entry_id(conn)
    rows, added = add_records(conn, target, import_id, records)
    return finish_import(conn, import_id, rows, added, entries_above=above)


def add_records(conn: Connection, target: HashSet, import_id: int, records: Iterable[EntryRecord]) -> tuple[int, int]:
    """Add records to the set, skipping identities it holds; return (records read, entries added). A video's
    vPDQ frames go to `vpdq_frame` once its entry exists (`store.frames`)."""
    videos: dict[int, list[Any]] = {}
    counts = add_rows(conn, target, import_id, records_as_rows(noting_videos(records, videos), target.category_scheme))
    if videos:
        add_vpdq_frames(conn, import_id, videos)
    return counts


def add_rows(conn: Connection, target: HashSet, import_id: int,
             batches: Iterable[RowBatch | ColumnBatch]) -> tuple[int, int]:
    """The loader both paths end in: `RowBatch`es from a fast reader, or records converted by `add_records`."""
    constants = {"set_id": target.id, "import_id": import_id, "created_at": utc_now()}
    before = conn.execute(select(func.count()).select_from(entry)).scalar_one()
    set_is_empty = conn.execute(select(entry.c.id).where(entry.c.set_id == target.id).limit(1)).first() is None
    # Into an empty set rows go straight to `entry`; into a set with entries they go through a staging table so
    # that what the set already holds is filtered out by an indexed anti-join, not inserted and deleted again.
    table = "entry" if set_is_empty else create_staging(conn)
    # the ids rows of this import will have lie above it (inserted from staging after this)
    highest_before = None if set_is_empty else conn.execute(select(func.max(entry.c.id))).scalar_one()
    write = batch_writer(conn, table, constants)
    deferred = DeferredIndexes(conn, before) if set_is_empty else None
    rows = 0
    filled: set[str] = set()
    prefixes = DigestPrefixes()
    for batch in read_ahead(batches):
        if not len(batch):
            continue
        if deferred is not None:
            deferred.drop_for(batch, rows)
        rows += len(batch)
        filled.update(batch.columns)
        prefixes.add(batch)
        write(batch)
    if deferred is not None:
        deferred.rebuild()
    known = 0 if set_is_empty else insert_new_from_staging(conn, target.id, table, filled)
    if rows - known and (not set_is_empty or prefixes.may_repeat()):
        return rows, rows - known - remove_duplicates(conn, target.id, import_id, highest_before)
    return rows, rows - known


# From this size on, an import into SQLite runs with the rollback journal when it has the database to itself
# (store.db.rollback_journal: the WAL would write every page twice). 64 MiB: about a million md5sum lines.
BULK_JOURNAL_BYTES = 64 << 20


def journal_for(conn: Connection, file_size: int) -> AbstractContextManager[bool]:
    """The journal an import of a file of `file_size` bytes runs with (see BULK_JOURNAL_BYTES); small imports keep
    WAL. Entered before the import's transaction begins."""
    if file_size >= BULK_JOURNAL_BYTES:
        return rollback_journal(conn)
    return nullcontext(False)
