"""The known-file filter of a scan: the ignorable sets (NSRL, known-good lists) as a memory-mapped cache.

A scan opens it once; workers map the same files and skip PDQ decoding of a file whose digest is in it, and the
writer reports such files as `ignorable`. The cache lives beside an SQLite database (`<db>.known-filter/`), or for
a server database under the user's cache directory, and is rebuilt when the ignorable sets' imports change.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from hashwarden.store import live
from hashwarden.store.schema import entry, hash_set, import_run

if TYPE_CHECKING:  # the filter's reader (NumPy) is loaded when a store has ignorable sets: a scan asks before its
    from hashwarden.index.known_filter import KnownFilter  # workers start, and most need nothing more

_DIGESTS = ("md5", "sha1", "sha256")


def cache_directory(engine: Engine, kind: str = "known-filter") -> Path:
    """Where files of this database derived from it are kept (`kind`: the known-file filter, the index
    generations): `<db>.<kind>` beside an SQLite file, else `<user cache>/hashwarden/<kind>-<hash of the URL>`."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(f"{url.database}.{kind}")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hashwarden"
    name = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return base / f"{kind}-{name}"


def fingerprint(engine: Engine) -> str | None:
    """What the filter's content depends on: the ignorable sets and their imports. None when there are none.

    Every change to a set's entries goes through an import (`store.loader`, NSRL deltas included), so the newest
    import id and the count of imports per set change whenever the content may have.
    """
    with engine.connect() as conn:
        sets = conn.execute(
            select(hash_set.c.id, hash_set.c.name, func.count(import_run.c.id), func.max(import_run.c.id))
            .outerjoin(import_run, import_run.c.set_id == hash_set.c.id)
            .where(hash_set.c.kind == "ignorable").group_by(hash_set.c.id, hash_set.c.name).order_by(hash_set.c.id)
        ).all()
    if not sets:
        return None
    return hashlib.sha256(repr([tuple(row) for row in sets]).encode()).hexdigest()


def open_known_filter(engine: Engine) -> KnownFilter | None:
    """The current filter (rebuilt from the store when stale or unreadable), or None without ignorable sets."""
    wanted = fingerprint(engine)
    if wanted is None:
        return None
    from hashwarden.index.generation import building
    from hashwarden.index.known_filter import KnownFilter, build

    directory = cache_directory(engine)
    current = _open_if(directory, wanted)
    if current is not None:
        return current
    with building(Path(f"{directory}.lock")):  # one rebuild at a time (service workers refresh together)
        current = _open_if(directory, wanted)  # another process rebuilt it while this one waited
        if current is None:
            build(directory, {name: _pairs(engine, name) for name in _DIGESTS}, wanted)
    return KnownFilter.open(directory)


def _open_if(directory: Path, wanted: str) -> KnownFilter | None:
    """The filter in `directory` if it is readable and has the `wanted` fingerprint."""
    from hashwarden.index.known_filter import KnownFilter

    try:
        current = KnownFilter.open(directory)
    except ValueError:
        return None  # absent, another format, or damaged: rebuild
    return current if current.fingerprint == wanted else None


def _pairs(engine: Engine, digest: str):  # noqa: ANN202 - generator of (bytes, int)
    column = entry.c[digest]
    query = (select(column, entry.c.id).join(hash_set, hash_set.c.id == entry.c.set_id)
             .where(hash_set.c.kind == "ignorable", column.is_not(None)))
    with engine.connect() as conn:
        for value, entry_id in live.rows(conn, query.execution_options(yield_per=100_000)):
            yield bytes(value), entry_id
