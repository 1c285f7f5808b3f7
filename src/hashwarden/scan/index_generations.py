"""Which index generation the store is at, and opening it (built from the store when absent).

The key of a generation is a digest of everything that can change an answer of the alert-side indexes:
- every set's content as the audit log recorded it (`audit.recorded_generation`: entries added or deleted by any
  import, NSRL deltas included, sets created, renamed or deleted through hashwarden);
- each set's row as the table holds it now, with its import count and newest import (a set's `kind` decides
  whether its digests go to the exact index or to the known-file filter, and an import into a set older than
  content digests is seen even if its content was never recorded);
- the settings that shape the indexes (`pdq_min_quality` filters the PDQ codes and video frames indexed; with
  the known-file filter on, ignorable digests stay out of the exact index) and the file format version.
A generation read while the sets changed under it would be stored under the wrong key, so the key is read before
and after the build and the build is redone when they differ. Changes made behind hashwarden's back (SQL on the
tables) are not in the key; `hashwarden audit verify` reports those.

Where: beside an SQLite database (`<db>.index-generations/`), else under the user's cache directory keyed by URL,
as the known-file filter (known_files.cache_directory).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from hashwarden.errors import ScanError
from hashwarden.index import generation
from hashwarden.index.generation import MatchIndexes
from hashwarden.scan.known_files import cache_directory
from hashwarden.scan.matcher import read_indexes
from hashwarden.store import audit
from hashwarden.store.records import canonical_json
from hashwarden.store.schema import hash_set, import_run

_log = logging.getLogger(__name__)
_contents: "weakref.WeakKeyDictionary[Engine, audit.RecordedContents]" = weakref.WeakKeyDictionary()
_contents_lock = threading.Lock()
BUILD_ATTEMPTS = 3  # builds tried while imports keep moving the key, before giving up (the caller may retry later)


def generation_key(conn: Connection, pdq_min_quality: int, ignorable_digests: bool,
                   contents: audit.RecordedContents | None = None) -> str:
    """The key of the generation the store is at now for these settings (SHA-256 hex; see the module docstring).
    Costs one small query over the sets, and a pass over the audit rows that record set content: with `contents`
    (what this process read of the log before) only over the rows appended since."""
    sets = conn.execute(
        select(hash_set.c.id, hash_set.c.name, hash_set.c.kind, func.count(import_run.c.id), func.max(import_run.c.id))
        .outerjoin(import_run, import_run.c.set_id == hash_set.c.id)
        .group_by(hash_set.c.id, hash_set.c.name, hash_set.c.kind).order_by(hash_set.c.id)
    ).all()
    state = {"format": generation.FORMAT_VERSION, "pdq_min_quality": pdq_min_quality,
             "ignorable_digests": ignorable_digests, "content": (contents or audit.RecordedContents()).generation(conn),
             "sets": [list(row) for row in sets]}
    return hashlib.sha256(canonical_json(state).encode("utf-8")).hexdigest()


def current_key(engine: Engine, pdq_min_quality: int, ignorable_digests: bool) -> str:
    """`generation_key` on a connection of its own: what a process polls to see whether to switch. The audit log
    is read incrementally, per engine (a poll reads only the rows appended since the last one)."""
    with _contents_lock:
        contents = _contents.setdefault(engine, audit.RecordedContents())
    with engine.connect() as conn:
        return generation_key(conn, pdq_min_quality, ignorable_digests, contents)


def generations_directory(engine: Engine) -> Path:
    """Where this database's generations live."""
    return cache_directory(engine, "index-generations")


def open_generation(engine: Engine, pdq_min_quality: int, ignorable_digests: bool) -> tuple[str, MatchIndexes]:
    """(key, memory-mapped indexes) of the store's current generation, built and published first if no process
    has yet.

    Raises:
        ScanError: the sets changed during each of BUILD_ATTEMPTS builds.
    """
    root = generations_directory(engine)
    for _ in range(BUILD_ATTEMPTS):
        key = current_key(engine, pdq_min_quality, ignorable_digests)

        def build(key: str = key) -> MatchIndexes:
            indexes = read_indexes(engine, pdq_min_quality, ignorable_digests)
            if current_key(engine, pdq_min_quality, ignorable_digests) != key:
                raise _Moved
            return indexes

        try:
            try:
                return key, generation.open_or_build(root, key, build)
            except OSError as exc:  # a cache that cannot be written (permissions, read-only or full disk)
                _log.warning("index generations unusable in %s (%s): indexes built in memory", root, exc)
                return key, build()
        except _Moved:
            continue
    raise ScanError(f"the hash sets changed during each of {BUILD_ATTEMPTS} index builds; try again when the "
                    "imports have finished")


class _Moved(Exception):
    """The store's generation moved while a build read it: the build is discarded."""
