"""The bookkeeping of one import: its `import_run` row (started, finished with its counts, the file's digest and
what the reader noticed) and its audit row with the set's new content digest.

Every change of a set's entries (list imports and NSRL deltas) starts and ends here, so the audit chain and the
sets' content digests see each of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from hashwarden.store import audit, digest, live, overlay
from hashwarden.store.db import utc_now
from hashwarden.store.hashsets import count_entries, get_set
from hashwarden.store.records import HashSet, ImportResult
from hashwarden.store.schema import import_run
from hashwarden.store.records import canonical_json


def start_import(conn: Connection, target: HashSet, *, fmt: str, file: str, file_sha256: str | None = None,
                 into_overlay: bool = False) -> int:
    """The import_run row every entry of this import will point at.

    The overlay (store/overlay.py) is merged into `entry` first, unless this import goes into the overlay itself
    (a published delta) and the set's share of it is still small: whatever writes `entry` must find every id of
    the overlay below the ids it gives."""
    if not into_overlay:
        overlay.merge(conn)
    elif overlay.due(conn, target.id, _entries(conn, target.id)):
        overlay.merge(conn, wait=False)  # put off while readers have it open (PostgreSQL): the delta still goes in
    return conn.execute(insert(import_run).values(
        set_id=target.id, format=fmt, file=file, file_sha256=file_sha256, started_at=utc_now(),
        rows=0, added=0, duplicates=0,
    )).inserted_primary_key[0]


def _entries(conn: Connection, set_id: int) -> int:
    """The set's entries as its last change recorded them (no count over a 10M-entry set), else counted."""
    recorded = audit.recorded_content(conn, set_id)
    return recorded.entries if recorded is not None else count_entries(conn, set_id)


def highest_entry_id(conn: Connection) -> int:
    """The highest entry id now (0 in an empty store): the entries an import inserts after this all lie above it
    (SQLite gives a new row max(rowid) + 1 and a writer has the database to itself; a PostgreSQL sequence only
    grows; the overlay's additions start above both tables), so the digest of what the import added is summed
    over an id range, not over the whole set."""
    return live.highest_id(conn)


def finish_import(conn: Connection, import_id: int, rows: int, added: int, **counts: int) -> ImportResult:
    """Close the import_run row with its counts (rows read, entries added, the rest duplicates)."""
    conn.execute(update(import_run).where(import_run.c.id == import_id).values(
        finished_at=utc_now(), rows=rows, added=added, duplicates=rows - added))
    return ImportResult(import_id, rows, added, rows - added, **counts)


def record_import(
    conn: Connection, set_name: str, result: ImportResult, *, fmt: str, file: str, file_sha256: str | None,
    details: dict[str, Any] | None,
) -> None:
    """Complete an import's record once its rows are in: the file digest and what the reader noticed go on the
    import_run row, and the import is appended to the audit log (same transaction) with the set's new content
    digest. Every change of a set's entries (imports and NSRL deltas) ends here."""
    extra = details or {}
    conn.execute(update(import_run).where(import_run.c.id == result.import_id).values(
        file_sha256=file_sha256, details=canonical_json(extra) if extra else None))
    target = get_set(conn, set_name)
    content = digest.after_import(
        conn, target.id, result.import_id, added=result.added, deleted=result.deleted, change=result.content_change,
        before=audit.recorded_content(conn, target.id), above=result.entries_above)
    audit.append(conn, "import", {"set": set_name, "format": fmt, "file": file, "file_sha256": file_sha256,
                                  **result.to_json(), **({"details": extra} if extra else {}),
                                  "content": content.to_json()})
