"""Hash sets and their entries: plain query functions taking a connection (the caller owns the transaction)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hashwarden.errors import StoreError
from hashwarden.store import audit, live
from hashwarden.config import DESCRIBE_IDS_PER_QUERY
from hashwarden.store.db import driver_sql, utc_now
from hashwarden.store.records import EntryRecord, HashSet
from hashwarden.store.schema import entry, entry_gone, entry_recent, hash_set, import_run, vpdq_frame

KINDS = ("alert", "ignorable")


def create_set(
    conn: Connection,
    name: str,
    kind: str,
    source: str = "local",
    category_scheme: str | None = None,
    version: str | None = None,
    description: str | None = None,
) -> HashSet:
    """Create a hash set and record it in the audit log.

    Raises:
        StoreError: unknown kind, empty name, or a set of that name exists.
    """
    if kind not in KINDS:
        raise StoreError(f"hash set kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not name.strip():
        raise StoreError("hash set name must not be empty")
    now = utc_now()
    values = dict(
        name=name, source=source, kind=kind, category_scheme=category_scheme, version=version,
        description=description, created_at=now, updated_at=now,
    )
    try:
        with conn.begin_nested():
            set_id = conn.execute(insert(hash_set).values(**values)).inserted_primary_key[0]
    except IntegrityError as exc:
        raise StoreError(f"a hash set named {name!r} already exists") from exc
    from hashwarden.store.digest import empty

    content = empty(set_id, name, kind, category_scheme).to_json()
    audit.append(conn, "set.create", {**{k: v for k, v in values.items() if k not in ("created_at", "updated_at")},
                                      "content": content})
    return HashSet(set_id, name, source, kind, category_scheme, version, description)


def rename_set(conn: Connection, name: str, new_name: str) -> HashSet:
    """Rename a set, recorded in the audit log with its content carried forward under the new name (never
    recomputed from the table: a change made behind hashwarden's back before the rename stays detected).

    Raises:
        StoreError: no such set, an empty name, or the new name is taken.
    """
    from hashwarden.store.digest import SetContent

    target = get_set(conn, name)
    if not new_name.strip():
        raise StoreError("hash set name must not be empty")
    recorded = audit.recorded_content(conn, target.id)
    try:
        with conn.begin_nested():
            conn.execute(update(hash_set).where(hash_set.c.id == target.id).values(name=new_name,
                                                                                    updated_at=utc_now()))
    except IntegrityError as exc:
        raise StoreError(f"a hash set named {new_name!r} already exists") from exc
    details: dict[str, Any] = {"set_id": target.id, "old": name, "new": new_name}
    if recorded is not None:
        details["content"] = SetContent(recorded.set_id, new_name, recorded.kind, recorded.category_scheme,
                                        recorded.entries, recorded.digest).to_json()
    audit.append(conn, "set.rename", details)
    return get_set(conn, new_name)


def adopt_category_scheme(conn: Connection, target: HashSet, scheme: str | None) -> None:
    """Give `target` the category scheme a list it imports declares (a VICS file names its region's), when the
    set has none yet: the codes of its entries are then readable. A set with a scheme keeps it."""
    if scheme and not target.category_scheme:
        conn.execute(update(hash_set).where(hash_set.c.id == target.id).values(category_scheme=scheme))


def delete_set(conn: Connection, name: str) -> int:
    """Delete a set with its entries (and their frames and import records); recorded in the audit log, so that
    `audit verify` knows the set is gone on purpose. Returns how many entries went.

    Raises:
        StoreError: no such set.
    """
    target = get_set(conn, name)
    # the set's part of the overlay first (its additions' frames cascade); its live entries are what `entry` held
    # less the ids gone, plus the additions
    gone = conn.execute(delete(entry_gone).where(entry_gone.c.set_id == target.id)).rowcount
    added = conn.execute(delete(entry_recent).where(entry_recent.c.set_id == target.id)).rowcount
    ids = select(entry.c.id).where(entry.c.set_id == target.id).scalar_subquery()
    conn.execute(delete(vpdq_frame).where(vpdq_frame.c.entry_id.in_(ids)))
    removed = conn.execute(delete(entry).where(entry.c.set_id == target.id)).rowcount - gone + added
    conn.execute(delete(import_run).where(import_run.c.set_id == target.id))
    conn.execute(delete(hash_set).where(hash_set.c.id == target.id))
    audit.append(conn, "set.delete", {"deleted_set": target.id, "name": name, "kind": target.kind,
                                      "entries": removed})
    return removed


def describe_set(conn: Connection, name: str) -> dict[str, Any]:
    """One set as `set show` prints it: its fields, entry count and its imports, oldest first.

    Raises:
        StoreError: no such set.
    """
    target = get_set(conn, name)
    count = count_entries(conn, target.id)
    runs = conn.execute(select(import_run).where(import_run.c.set_id == target.id).order_by(import_run.c.id))
    imports = [{"id": r.id, "format": r.format, "file": r.file, "added": r.added or 0,
                "started_at": r.started_at, "finished_at": r.finished_at, "file_sha256": r.file_sha256}
               for r in runs]
    return {**replace(target, entries=count).summary(), "imports": imports, "unmerged": live.pending(conn, target.id)}


def count_entries(conn: Connection, set_id: int) -> int:
    """How many entries the set holds."""
    return live.count(conn, select(func.count()).select_from(entry).where(entry.c.set_id == set_id))


def get_set(conn: Connection, name: str) -> HashSet:
    """The set called `name`.

    Raises:
        StoreError: there is none.
    """
    row = conn.execute(select(hash_set).where(hash_set.c.name == name)).first()
    if row is None:
        raise StoreError(f"no hash set named {name!r} (see `hashwarden set list`)")
    return _to_set(row)


def list_sets(conn: Connection) -> list[HashSet]:
    """All sets with their entry counts, by name."""
    counts: dict[int, int] = {}
    for set_id, n in live.rows(conn, select(entry.c.set_id, func.count()).group_by(entry.c.set_id)):
        counts[set_id] = counts.get(set_id, 0) + n
    return [_to_set(row, counts.get(row.id, 0)) for row in conn.execute(select(hash_set).order_by(hash_set.c.name))]


def _to_set(row: Any, entries: int = 0) -> HashSet:
    return HashSet(
        row.id, row.name, row.source, row.kind, row.category_scheme, row.version, row.description, entries
    )


@dataclass(frozen=True)
class MatchRow:
    """The hashes of one entry, as the matchers index them."""

    entry_id: int
    md5: bytes | None
    sha1: bytes | None
    sha256: bytes | None
    pdq: bytes | None
    pdq_quality: int | None


def iter_match_rows(conn: Connection, ignorable_digests: bool = True) -> Iterator[MatchRow]:
    """Every entry's hashes, streamed (constant memory on the Python side).

    With `ignorable_digests=False` the digests of ignorable sets are left out (the known-file filter answers for
    them, from its memory-mapped cache); their PDQ hashes are still yielded.
    """
    query = select(entry.c.id, entry.c.md5, entry.c.sha1, entry.c.sha256, entry.c.pdq, entry.c.pdq_quality)
    if ignorable_digests:
        for row in live.rows(conn, query.execution_options(yield_per=10000)):
            yield MatchRow(*row)
        return
    alert = query.join(hash_set, hash_set.c.id == entry.c.set_id).where(hash_set.c.kind == "alert")
    for row in live.rows(conn, alert.execution_options(yield_per=10000)):
        yield MatchRow(*row)
    pdq_only = (select(entry.c.id, entry.c.pdq, entry.c.pdq_quality).join(hash_set, hash_set.c.id == entry.c.set_id)
                .where(hash_set.c.kind == "ignorable", entry.c.pdq.is_not(None)))
    for entry_id, pdq, quality in live.rows(conn, pdq_only.execution_options(yield_per=10000)):
        yield MatchRow(entry_id, None, None, None, pdq, quality)


def iter_entries(conn: Connection, set_id: int, frames: bool = False) -> Iterator[EntryRecord]:
    """Every entry of a set as records (streamed, in insertion order): what the exporters write. With `frames`, a
    video's entry carries its stored vPDQ frames (`vpdq`), read by a second stream in the same entry order and
    merged, so memory stays one entry's frames whatever the set's size."""
    query = select(entry.c.id, *_RECORD_COLUMNS).where(entry.c.set_id == set_id).order_by(entry.c.id)
    videos = _frames_by_entry(conn, set_id) if frames else iter(())
    video = next(videos, None)
    # Rows unpacked by position and records built positionally (`_RECORD_COLUMNS` is EntryRecord's field order):
    # a 10M-entry publish reads every entry, and access by name cost ~4 us a row.
    for (entry_id, md5, sha1, sha256, pdq, quality, media, size, category, series, victim, offender, distributed,
         tags, comments, updated, provenance, scheme, media_id, photodna, attributes, line) in live.rows(
            conn, query.execution_options(yield_per=10_000)):
        record = EntryRecord(
            md5.hex() if md5 else None, sha1.hex() if sha1 else None, sha256.hex() if sha256 else None,
            pdq.hex() if pdq else None, quality, media, size, category, series, victim, offender, distributed,
            json.loads(tags) if tags else [], comments, updated, provenance, scheme, media_id, photodna,
            json.loads(attributes) if attributes else {}, line)
        if video is not None and video[0] == entry_id:
            record.vpdq = video[1]
            video = next(videos, None)
        yield record


# The entry's columns in `EntryRecord`'s field order (md5 ... line), for iter_entries' positional records.
_RECORD_COLUMNS = tuple(entry.c[name] for name in (
    "md5", "sha1", "sha256", "pdq", "pdq_quality", "media", "size", "category", "series", "victim_identified",
    "offender_identified", "is_distributed", "tags", "comments", "date_updated", "provenance", "category_scheme",
    "media_id", "photodna", "attributes", "line"))


def _frames_by_entry(conn: Connection, set_id: int) -> Iterator[tuple[int, list[Any]]]:
    """(entry id, its frames in frame order, as `VpdqFrame`s) of each video entry of the set, by entry id."""
    from hashwarden.signals.vpdq import VpdqFrame  # numpy and the PDQ engine: only for exports that write frames

    query = (select(vpdq_frame.c.entry_id, vpdq_frame.c.frame, vpdq_frame.c.quality, vpdq_frame.c.pdq,
                    vpdq_frame.c.timestamp)
             .join(entry, entry.c.id == vpdq_frame.c.entry_id).where(entry.c.set_id == set_id)
             .order_by(vpdq_frame.c.entry_id, vpdq_frame.c.frame))
    rows = live.rows(conn, query.execution_options(yield_per=10_000))
    for entry_id, group in groupby(rows, key=lambda row: row.entry_id):
        yield entry_id, [VpdqFrame(row.frame, row.quality, bytes(row.pdq).hex(), row.timestamp) for row in group]


def iter_video_frames(conn: Connection, min_quality: int) -> Iterator[tuple[int, bytes]]:
    """(entry id, PDQ) of every stored vPDQ frame of at least `min_quality`, by entry (streamed)."""
    query = (select(vpdq_frame.c.entry_id, vpdq_frame.c.pdq).where(vpdq_frame.c.quality >= min_quality)
             .order_by(vpdq_frame.c.entry_id, vpdq_frame.c.frame))
    for entry_id, pdq in live.rows(conn, query.execution_options(yield_per=10000)):
        yield entry_id, bytes(pdq)


def describe_entries(conn: Connection, entry_ids: list[int], flags: bool = False) -> dict[int, dict[str, Any]]:
    """What a match says about each entry: its set, the set's kind, and the entry's category with its scheme; with
    `flags`, also its `series` and `victim_identified` where the entry has them, with what the links of its media
    to series and victims add (store/series.py).

    Read afresh on every match rather than cached with the index generation: an entry deleted since the generation
    was built (a set deleted while a lookup is in flight) is left out at once, not until the next generation. One
    query per `DESCRIBE_IDS_PER_QUERY` ids, handed to the driver as written (store/db.py `driver_sql`): it runs on
    every service lookup that matches."""
    described: dict[int, dict[str, Any]] = {}
    digests: dict[int, dict[str, bytes | None]] = {}
    # with links to series and victims, each entry's digests too: what its links are found by
    linked = flags and conn.exec_driver_sql(_ANY_MEDIA_LINK).first() is not None
    template = _DESCRIBE_LINKED if linked else _DESCRIBE
    if live.present(conn):  # the entries as the overlay leaves them (store/live.py), the ids bound in each part
        template, times = template.replace(" FROM entry JOIN", f" FROM {_LIVE_ENTRY} JOIN"), 3
    else:
        times = 1
    for first in range(0, len(entry_ids), DESCRIBE_IDS_PER_QUERY):
        ids = tuple(int(entry_id) for entry_id in entry_ids[first:first + DESCRIBE_IDS_PER_QUERY])
        sql = driver_sql(conn, template.format(", ".join("?" * len(ids))))
        for entry_id, name, kind, category, scheme, series, identified, *hashes in conn.exec_driver_sql(
                sql, ids * times):
            found = described[entry_id] = {"set": name, "kind": kind, "category": category, "scheme": scheme}
            if linked:
                digests[entry_id] = dict(zip(_LINKED_DIGESTS, hashes))
            if flags and series is not None:
                found["series"] = series
            if flags and identified is not None:
                found["victim_identified"] = bool(identified)
    if linked:
        _add_links(conn, described, digests)
    return described


def _add_links(conn: Connection, described: dict[int, dict[str, Any]],
               digests: dict[int, dict[str, bytes | None]]) -> None:
    """Give each described entry the series and victim flag its media's links add (store/series.py)."""
    from hashwarden.store.series import LinkIndex

    links = LinkIndex.load(conn, {name: {bytes(hashes[name]) for hashes in digests.values()
                                         if hashes[name] is not None} for name in _LINKED_DIGESTS})
    if not links:
        return
    for entry_id, found in described.items():
        series, identified = links.resolve(digests[entry_id], found.get("series"), found.get("victim_identified"))
        for name, value in (("series", series), ("victim_identified", identified)):
            if value is not None:
                found[name] = value


_DESCRIBE = ("SELECT entry.id, hash_set.name, hash_set.kind, entry.category, entry.category_scheme, entry.series, "
             "entry.victim_identified FROM entry JOIN hash_set ON hash_set.id = entry.set_id WHERE entry.id IN ({0})")
_DESCRIBED = "id, set_id, category, category_scheme, series, victim_identified, md5, sha1, sha256, pdq"
_LIVE_ENTRY = (f"(SELECT {_DESCRIBED} FROM entry WHERE id IN ({{0}}) AND id NOT IN (SELECT id FROM entry_gone) "
               f"UNION ALL SELECT {_DESCRIBED} FROM entry_recent WHERE id IN ({{0}})) AS entry")
_LINKED_DIGESTS = ("md5", "sha1", "sha256", "pdq")
_ANY_MEDIA_LINK = "SELECT 1 FROM series_link WHERE media IS NOT NULL LIMIT 1"
_DESCRIBE_LINKED = _DESCRIBE.replace(" FROM entry", ", entry.md5, entry.sha1, entry.sha256, entry.pdq FROM entry")
