"""The URL list as rows (issue 19): Safe Browsing expressions to block, their history and versions.

An entry is one listing of an expression (`host/` a whole host and its subdomains, `host/dir/` a path prefix,
`host/path?query` one page or image), as `urllist.entries` derives it from a URL and a kind; its SHA-256 is what
every lookup compares. Each change of the list (a batch of additions, or of removals) is one new **version**: the
rows added carry it as `added_version`, the rows removed as `removed_version`, so the list at any version and the
change between two are queries, which signed distribution and the prefix API's deltas use. Removal keeps the row.
At most one current row per expression (a partial unique index); adding a listed expression again adds nothing.
Writers are serialised (`db.serialise_writers`), so versions are numbered without gaps or repeats. Every change
is an audit row (`url.add`, `url.remove`) with the version, the counts and a digest of the expressions' hashes,
never an expression itself (the list is confidential: it names where abuse imagery is).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from hashwarden.errors import StoreError
from hashwarden.store import audit
from hashwarden.store.db import serialise_writers, utc_now
from hashwarden.store.schema import url_entry
from hashwarden.urls import expression_hash

_URL_LOCK = 0x75726C73  # "urls": the PostgreSQL advisory lock of URL list writers
KINDS = ("domain", "path", "page", "image")
APPEALS = ("none", "open", "upheld", "overturned")


@dataclass(frozen=True)
class NewUrlEntry:
    """What an addition gives: the expression (already canonical), its kind and where it came from."""

    expression: str
    kind: str
    category: str | None = None
    source: str | None = None
    reporter: str | None = None
    evidence_sha256: str | None = None  # hex
    appeal: str = "none"
    public_id: str | None = None  # given: a subscriber keeps the publisher's id (distribution/); else a new one

    @property
    def sha256(self) -> bytes:
        return expression_hash(self.expression)


@dataclass(frozen=True)
class UrlEntry:
    """A stored entry, as `url list` and the exports show it."""

    public_id: str
    expression: str
    kind: str
    category: str | None
    source: str | None
    reporter: str | None
    evidence_sha256: str | None
    appeal: str
    added_at: str
    added_version: int
    removed_at: str | None = None
    removed_version: int | None = None
    removed_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if value is not None}


def list_version(conn: Connection) -> int:
    """The list's current version: the number of changes made to it (0: never changed)."""
    added, removed = conn.execute(select(func.max(url_entry.c.added_version),
                                         func.max(url_entry.c.removed_version))).one()
    return max(added or 0, removed or 0)


def add_entries(conn: Connection, entries: Iterable[NewUrlEntry], actor: str | None = None
                ) -> tuple[int, list[tuple[str, bool]]]:
    """Add the entries not already listed, as one new version (none added: no new version); return the version
    and, per entry given, its public id and whether it was added now (False: listed before, or twice in `entries`).
    In the caller's transaction, audited.

    Raises:
        StoreError: a given public id is already some row's (an id names one entry, ever).
    """
    serialise_writers(conn, _URL_LOCK, "url_entry")
    given = list(entries)
    current = _current_ids(conn, [entry.sha256 for entry in given])
    version = list_version(conn) + 1
    now = utc_now()
    rows, answer, added = [], [], []
    for entry in given:
        digest = entry.sha256
        if digest in current:
            answer.append((current[digest], False))
            continue
        public_id = entry.public_id or secrets.token_hex(16)
        current[digest] = public_id
        answer.append((public_id, True))
        added.append(entry)
        rows.append({"public_id": public_id, "expression": entry.expression, "sha256": digest, "kind": entry.kind,
                     "category": entry.category, "source": entry.source, "reporter": entry.reporter,
                     "evidence_sha256": bytes.fromhex(entry.evidence_sha256) if entry.evidence_sha256 else None,
                     "appeal": entry.appeal, "added_at": now, "added_version": version})
    if not rows:
        return version - 1, answer
    _refuse_taken_ids(conn, [row["public_id"] for row, entry in zip(rows, added) if entry.public_id])
    conn.execute(insert(url_entry), rows)
    audit.append(conn, "url.add", {"version": version, "added": len(rows),
                                   "sha256_digest": _digest(row["sha256"] for row in rows)}, actor=actor)
    return version, answer


def remove_entries(conn: Connection, expressions_sha256: Iterable[bytes], reason: str | None = None,
                   actor: str | None = None) -> tuple[int, list[str]]:
    """Remove the current entries of these expression hashes as one new version (none listed: no new version);
    return the version and the public ids removed. History is kept. In the caller's transaction, audited."""
    serialise_writers(conn, _URL_LOCK, "url_entry")
    current = _current_ids(conn, list(expressions_sha256))
    version = list_version(conn) + 1
    if not current:
        return version - 1, []
    now = utc_now()
    for chunk in _chunks(list(current), 500):
        conn.execute(update(url_entry).where(url_entry.c.sha256.in_(chunk), url_entry.c.removed_at.is_(None))
                     .values(removed_at=now, removed_version=version, removed_reason=reason))
    audit.append(conn, "url.remove", {"version": version, "removed": len(current),
                                      "sha256_digest": _digest(current)}, actor=actor)
    return version, list(current.values())


def _refuse_taken_ids(conn: Connection, public_ids: list[str]) -> None:
    if len(set(public_ids)) < len(public_ids):
        raise StoreError("the same URL entry id is given to two entries")
    for chunk in _chunks(public_ids, 500):
        taken = conn.execute(select(url_entry.c.public_id).where(url_entry.c.public_id.in_(chunk)).limit(1)).first()
        if taken is not None:
            raise StoreError(f"URL entry id {taken[0]} is already an entry's here (listed or removed)")


def set_appeal(conn: Connection, expression_sha256: bytes, state: str, actor: str | None = None) -> str | None:
    """Record the appeal state of the current entry of this expression (a site owner's appeal opened, upheld or
    overturned; an overturned entry is then removed by `remove_entries`, which keeps the reason); return its public
    id, None when it is not listed. Not a change of what the list blocks: no new version. Audited.

    Raises:
        ValueError: an unknown state.
    """
    if state not in APPEALS:
        raise ValueError(f"unknown appeal state {state!r} (one of {', '.join(APPEALS)})")
    current = _current_ids(conn, [expression_sha256])
    if not current:
        return None
    conn.execute(update(url_entry).where(url_entry.c.sha256 == expression_sha256, url_entry.c.removed_at.is_(None))
                 .values(appeal=state))
    public_id = current[expression_sha256]
    audit.append(conn, "url.appeal", {"entry": public_id, "appeal": state}, actor=actor)
    return public_id


def current_hashes(conn: Connection) -> dict[bytes, str]:
    """Every listed expression's SHA-256 -> its entry's public id: what a checker holds."""
    return {bytes(digest): public_id for digest, public_id in conn.execute(
        select(url_entry.c.sha256, url_entry.c.public_id).where(url_entry.c.removed_at.is_(None)))}


def lists_any(conn: Connection) -> bool:
    """Whether any entry is listed now (one indexed row read, not the list)."""
    return conn.execute(select(url_entry.c.id).where(url_entry.c.removed_at.is_(None)).limit(1)).first() is not None


def hashes_at(conn: Connection, version: int) -> set[bytes]:
    """The expression hashes listed at `version` (what a subscriber at that version holds)."""
    return {bytes(digest) for (digest,) in conn.execute(select(url_entry.c.sha256).where(_listed_at(version)))}


def iter_entries(conn: Connection, removed: bool = False, batch: int = 5000) -> Iterator[UrlEntry]:
    """The current entries (with `removed`, every row, removed ones too) by id, a batch at a time."""
    after = 0
    while True:
        query = select(url_entry).where(url_entry.c.id > after).order_by(url_entry.c.id).limit(batch)
        if not removed:
            query = query.where(url_entry.c.removed_at.is_(None))
        rows = conn.execute(query).all()
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        after = rows[-1].id


def find_entries(conn: Connection, expressions_sha256: list[bytes]) -> dict[bytes, UrlEntry]:
    """The current entries of these expression hashes (for `url check` of the operator, who may see them)."""
    found = {}
    for chunk in _chunks(expressions_sha256, 500):
        for row in conn.execute(select(url_entry).where(url_entry.c.sha256.in_(chunk),
                                                        url_entry.c.removed_at.is_(None))):
            found[bytes(row.sha256)] = _entry(row)
    return found


def _listed_at(version: int) -> ColumnElement[bool]:
    return (url_entry.c.added_version <= version) & (
        url_entry.c.removed_version.is_(None) | (url_entry.c.removed_version > version))


def _current_ids(conn: Connection, digests: list[bytes]) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for chunk in _chunks(sorted(set(digests)), 500):
        for digest, public_id in conn.execute(select(url_entry.c.sha256, url_entry.c.public_id).where(
                url_entry.c.sha256.in_(chunk), url_entry.c.removed_at.is_(None))):
            found[bytes(digest)] = public_id
    return found


def _entry(row: Any) -> UrlEntry:
    return UrlEntry(row.public_id, row.expression, row.kind, row.category, row.source, row.reporter,
                    bytes(row.evidence_sha256).hex() if row.evidence_sha256 is not None else None, row.appeal,
                    row.added_at, row.added_version, row.removed_at, row.removed_version, row.removed_reason)


def _digest(hashes: Iterable[bytes]) -> str:
    """SHA-256 over the sorted expression hashes of a change: what its audit row records instead of the list."""
    total = hashlib.sha256()
    for digest in sorted(hashes):
        total.update(digest)
    return total.hexdigest()


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
