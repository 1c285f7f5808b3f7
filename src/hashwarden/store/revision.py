"""A set's next revision as one recorded change: some entries taken out, some added, one `import_run` and one
audit row with the set's new content digest and version (issue 18: grades published as a set).

Why not an import: an import only adds (an entry keeps its first provenance), while a published set must follow
its source, e.g. drop an entry whose grade became disputed, or replace one whose category changed. The removed
entries' digest terms are subtracted as an NSRL delta's are (store/delta.py), so `audit verify` still proves the
set's entries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update

from hashwarden.store import digest, live, overlay
from hashwarden.store.db import utc_now
from hashwarden.store.import_run import finish_import, highest_entry_id, record_import, start_import
from hashwarden.store.loader import add_records
from hashwarden.store.records import EntryRecord, HashSet, ImportResult
from hashwarden.store.schema import entry, hash_set

_DELETE_CHUNK = 500  # ids per DELETE: well under SQLite's bound on parameters
_HASHING_AHEAD = 16  # chunks of removed rows read and waiting for their digest terms (memory: 8,000 rows)
_LOOKUP_CHUNK = 5_000  # hashes per lookup of entries to remove (SQLite binds up to 32,766; fewer compiled queries)


def entry_keys(conn: Any, set_id: int) -> Iterator[tuple[int, tuple[str | None, ...], str | None, str | None]]:
    """(entry id, its hashes as hex (md5, sha1, sha256, pdq), category, provenance) of every entry of a set: what
    a revision compares the new content with."""
    query = select(entry.c.id, entry.c.md5, entry.c.sha1, entry.c.sha256, entry.c.pdq, entry.c.category,
                   entry.c.provenance).where(entry.c.set_id == set_id).order_by(entry.c.id)
    for row in live.rows(conn, query):
        yield row.id, tuple(_hex(v) for v in row[1:5]), row.category, row.provenance


@dataclass(frozen=True)
class Found:
    """Entries of a set found by their identity (`entries_of`): their ids, ascending, and their rows and frames as the
    set's content digest hashes them, read by the query that found them, so a removal reads each entry once."""

    ids: list[int]
    rows: digest.Rows


def entries_of(conn: Any, set_id: int, records: list[EntryRecord]) -> tuple[Found, list[EntryRecord]]:
    """(the set's entries with the identity of each record, the records the set holds no entry for, the first of
    each identity): what a published delta's removals name, and which of its additions are new. The identity is
    the loader's (`schema.DIGEST_COLUMNS`): the four hashes, or a video's frames when it has none; each record is
    looked up by its first hash (every digest column is indexed with the set), a chunk of them a query that also
    reads the columns the content digest hashes."""
    from hashwarden.signals.vpdq import frames_sha256

    wanted: dict[tuple[str | None, ...], EntryRecord] = {}
    by_column: dict[str, list[bytes]] = {}
    for record in records:  # unrolled (a 100k-line delta's removals pass here): the strongest value names the column
        md5, sha1, sha256, pdq = record.md5, record.sha1, record.sha256, record.pdq
        video = None
        if md5:
            column, value = "md5", md5
        elif sha1:
            column, value = "sha1", sha1
        elif sha256:
            column, value = "sha256", sha256
        elif pdq:
            column, value = "pdq", pdq
        else:
            column = "vpdq_sha256"
            value = video = frames_sha256(record.vpdq or []).hex()
        if wanted.setdefault((md5, sha1, sha256, pdq, video), record) is record:
            by_column.setdefault(column, []).append(bytes.fromhex(value))
    rows: list[Any] = []
    width = len(digest.ENTRY_COLUMNS)
    for column, values in by_column.items():
        for start in range(0, len(values), _LOOKUP_CHUNK):
            query = select(*digest.ENTRY_COLUMNS, entry.c.vpdq_sha256).where(
                entry.c.set_id == set_id, entry.c[column].in_(values[start:start + _LOOKUP_CHUNK]))
            for row in live.rows(conn, query):  # the identity as a key: hashes as hex, the frames' digest when none
                key = (_hex(row.md5), _hex(row.sha1), _hex(row.sha256), _hex(row.pdq), _hex(row.vpdq_sha256))
                if wanted.pop(key, None) is not None:
                    rows.append(tuple(row[:width]))
    rows.sort()  # by id: the deletions then walk the table's pages in order
    ids = [row[0] for row in rows]
    frames: list[Any] = []
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        frames += live.rows(conn, digest.frames_of(and_(entry.c.set_id == set_id,
                                                        entry.c.id.in_(ids[start:start + _LOOKUP_CHUNK]))))
    return Found(ids, digest.Rows(rows, frames)), list(wanted.values())


def _hex(value: bytes | None) -> str | None:
    """A stored digest as the hex the records carry (None stays None): the one conversion of both readers here."""
    return None if value is None else bytes(value).hex()


def revise_set(conn: Any, target: HashSet, remove: list[int] | Found, records: Iterable[EntryRecord], *, fmt: str,
               file: str, version: str, details: dict[str, Any], into_overlay: bool = False) -> ImportResult:
    """Remove the entries `remove` (ids of `target`'s entries, or those `entries_of` found with their rows), add
    `records`, set the set's `version`, and record it all as one import of `fmt` (audited with the new content
    digest), in the caller's transaction. `into_overlay`: the changes go to the overlay (store/overlay.py), as a
    published delta's do on a subscriber."""
    import_id = start_import(conn, target, fmt=fmt, file=file, into_overlay=into_overlay)
    change = deleted = 0
    # The removed entries' digest terms are hashed in a thread while this one deletes and adds: the hashing is
    # Python, the statements are SQLite or PostgreSQL with the GIL released (a 100k-line delta into a 10M-entry
    # set: ~0.4 s of hashing taken off its path). At most _HASHING_AHEAD chunks of rows wait to be hashed.
    pending: deque[Future[int]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="set-digest") as hashing:
        read_here = not isinstance(remove, Found)
        if read_here:
            ids = remove
        else:  # read before this import began: every row is an earlier import's
            pending.append(hashing.submit(remove.rows.term))
            ids = remove.ids
        for start in range(0, len(ids), _DELETE_CHUNK):
            if into_overlay and not read_here:  # the rows were read by `entries_of`; nothing to do per chunk
                break
            condition = and_(entry.c.set_id == target.id, entry.c.id.in_(ids[start:start + _DELETE_CHUNK]))
            if read_here:
                pending.append(hashing.submit(digest.rows_of(conn, condition, import_id).term))
            if not into_overlay:
                deleted += conn.execute(entry.delete().where(condition)).rowcount
            while len(pending) > _HASHING_AHEAD:
                change -= pending.popleft().result()
        if into_overlay:  # after the reads above: the removed rows stay where they are until merged
            deleted = overlay.remove(conn, target.id, ids)
        above = highest_entry_id(conn)  # after the deletions: the additions' ids lie above what is left
        if into_overlay:  # after the removals: an entry replaced (its category changed) is added again
            records = list(records)
            _, new = entries_of(conn, target.id, records)
            rows, added = len(records), overlay.add(conn, target, import_id, new)
        else:
            rows, added = add_records(conn, target, import_id, records)
        while pending:
            change -= pending.popleft().result()
    finished = finish_import(conn, import_id, rows, added)
    result = ImportResult(import_id, rows, added, finished.duplicates, deleted, content_change=change,
                          entries_above=above)
    conn.execute(update(hash_set).where(hash_set.c.id == target.id).values(version=version, updated_at=utc_now()))
    record_import(conn, target.name, result, fmt=fmt, file=file, file_sha256=None,
                  details={**details, "version": version})
    return result


@dataclass(frozen=True)
class Revised:
    """What `follow` did: the set's version after it (unchanged when nothing changed), entries added and removed,
    entries it holds."""

    version: str | None
    added: int
    removed: int
    entries: int


def follow(conn: Any, target: HashSet, wanted: dict[tuple[str | None, ...], EntryRecord], *, fmt: str, file: str,
           details: dict[str, Any]) -> Revised:
    """Make `target` hold exactly `wanted` (keyed by hashes as hex: md5, sha1, sha256, pdq), as its next version
    ("1", "2", ...) when anything changes: entries no longer wanted, or whose category or provenance changed, are
    removed, new ones added (`revise_set`). A publication that would change nothing writes nothing. Grades
    (grading/publish.py) and confirmed self-reports (grading/self_reports.py) are published this way."""
    wanted = dict(wanted)
    remove, held = [], 0
    for entry_id, key, category, provenance in entry_keys(conn, target.id):
        record = wanted.get(key)
        if record is not None and (record.category, record.provenance) == (category, provenance):
            del wanted[key]  # published as it stands
            held += 1
        else:
            remove.append(entry_id)
    if not remove and not wanted:
        return Revised(target.version, 0, 0, held)
    version = str(int(target.version or 0) + 1)
    result = revise_set(conn, target, remove, list(wanted.values()), fmt=fmt, file=file, version=version,
                        details=details)
    return Revised(version, result.added, result.deleted, held + result.added)
