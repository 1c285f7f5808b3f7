"""The content digest of a hash set: an order-independent hash of every entry field that can decide a verdict.

Why: the audit chain protects audit rows only. Each change of a set (creation, import, NSRL delta) records the
set's digest in its audit row, and `audit verify` recomputes every set's digest from its entries, so an entry
edited, deleted or inserted with sqlite3 or psql behind hashwarden's back is detected.

Construction (a multiset hash, "AdHash"): every entry, and every vPDQ frame of a video entry, is encoded
canonically and hashed by SHAKE-256 to 256 bytes; the set's digest is the sum of these numbers mod 2**2048.
- Order-independent and incremental: an import adds the terms of the entries it added, a delta subtracts those
  it deleted, so recording a change costs the change, not the set. It also means tampering done before an
  import stays detected after it (the digest is carried forward, never recomputed from what the table holds).
- Addition, not XOR: XOR is linear over GF(2), so 2048 crafted entries can be solved for any target digest by
  Gaussian elimination, and equal terms cancel. Sums are attacked by Wagner's k-tree (generalised birthday)
  algorithm, whose cost is about k * 2**(n / (1 + log2 k)): with n = 256 that is ~2**31 work for k = 2**15
  crafted edits, practical; with n = 2048 it stays above 2**100 for any k a set can hold.
- Cost: ~1.2 us of hashing per entry (SHAKE-256 to 256 bytes), plus fetching the rows; figures in the docs.

Covered per entry: its id (what findings and frames refer to), md5, sha1, sha256, pdq, pdq_quality, media, size,
category and category_scheme; per frame: entry id, frame number, quality, PDQ and timestamp. The set's own
name, kind and category scheme are recorded beside the digest and compared too. Descriptive metadata (comments,
tags, series, VICS flags, attributes, provenance) is not covered: it does not change a verdict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from hashwarden.store import live
from hashwarden.store.schema import entry, hash_set, vpdq_frame

WIDTH = 256  # bytes of SHAKE-256 output per term
MODULUS = 1 << (8 * WIDTH)
ENTRY_TAG = "hashwarden.entry.v1"  # domain separation: an entry can never encode like a frame
FRAME_TAG = "hashwarden.vpdq_frame.v1"
ENTRY_COLUMNS = (
    entry.c.id, entry.c.md5, entry.c.sha1, entry.c.sha256, entry.c.pdq, entry.c.pdq_quality, entry.c.media,
    entry.c.size, entry.c.category, entry.c.category_scheme,
)
FRAME_COLUMNS = (vpdq_frame.c.entry_id, vpdq_frame.c.frame, vpdq_frame.c.quality, vpdq_frame.c.pdq,
                 vpdq_frame.c.timestamp)
_FETCH = 20_000


def _sum_rows(conn: Connection, query: Any, tag: str, group: bool) -> dict[Any, list[int]]:
    """{key: [count, sum]} over the query's rows (over the live entries: store/live.py); the key is the first column
    when `group`, else None."""
    totals: dict[Any, list[int]] = {}
    for part in live.parts(conn, query.execution_options(yield_per=_FETCH)):
        for rows in conn.execute(part).partitions():
            _add_terms(rows, tag, group, totals)
    return totals


def _add_terms(rows: Any, tag: str, group: bool, totals: dict[Any, list[int]]) -> None:
    """Add the rows' terms to `totals` ({key: [count, sum]}).

    A row's term is SHAKE-256 of `repr((tag, *values))`: repr of a tuple of None/int/float/str/bytes is
    unambiguous (strings quoted and escaped, floats in their shortest round-trip form) and runs in C; a
    hand-written length-prefixed encoder cost several times as much per row.
    """
    shake, from_bytes = hashlib.shake_256, int.from_bytes
    # Both drivers return binary columns as bytes; a memoryview would repr as its address, so a driver that
    # returns them is converted (checked on the first row: a column's type does not vary).
    convert = bool(rows) and any(isinstance(v, memoryview) for v in rows[0])
    for row in rows:
        values = tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) if convert else row
        key = values[0] if group else None
        term = from_bytes(shake(repr((tag, *values[group:])).encode("utf-8")).digest(WIDTH), "little")
        total = totals.get(key)
        if total is None:
            totals[key] = [1, term]
        else:
            total[0] += 1
            total[1] += term


def sum_entries(conn: Connection, condition: Any) -> tuple[int, int]:
    """(entries, digest term) of the entries matching `condition`, their vPDQ frames included."""
    entries = _sum_rows(conn, select(*ENTRY_COLUMNS).where(condition), ENTRY_TAG, group=False).get(None, [0, 0])
    frame_sum = _sum_rows(conn, frames_of(condition), FRAME_TAG, group=False).get(None, [0, 0])[1]
    return entries[0], (entries[1] + frame_sum) % MODULUS


def frames_of(condition: Any) -> Any:
    """The query of the vPDQ frames of the entries matching `condition`, in the columns their terms hash."""
    return select(*FRAME_COLUMNS).join(entry, entry.c.id == vpdq_frame.c.entry_id).where(condition)


def all_sets(conn: Connection) -> dict[int, tuple[int, int]]:
    """{set id: (entries, digest)} of every set that has entries, in one pass over the entry table (no sort, no
    index: a sequential read is the fastest way through tens of millions of rows)."""
    totals = _sum_rows(conn, select(entry.c.set_id, *ENTRY_COLUMNS), ENTRY_TAG, group=True)
    frames = select(entry.c.set_id, *FRAME_COLUMNS).join(entry, entry.c.id == vpdq_frame.c.entry_id)
    for set_id, (_, term) in _sum_rows(conn, frames, FRAME_TAG, group=True).items():
        totals.setdefault(set_id, [0, 0])[1] += term
    return {set_id: (count, total % MODULUS) for set_id, (count, total) in totals.items()}


@dataclass(frozen=True)
class SetContent:
    """What an audit row records about a set after a change: enough to recompute and compare later."""

    set_id: int
    name: str
    kind: str
    category_scheme: str | None
    entries: int
    digest: int

    def to_json(self) -> dict[str, Any]:
        return {"set_id": self.set_id, "name": self.name, "kind": self.kind, "category_scheme": self.category_scheme,
                "entries": self.entries, "digest": self.digest.to_bytes(WIDTH, "little").hex()}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> "SetContent":
        return cls(int(value["set_id"]), str(value["name"]), str(value["kind"]), value.get("category_scheme"),
                   int(value["entries"]), int.from_bytes(bytes.fromhex(value["digest"]), "little"))

    def fingerprint(self) -> str:
        """SHA-256 of the recorded fields: the short form a checkpoint signs."""
        return hashlib.sha256(repr(sorted(self.to_json().items())).encode("utf-8")).hexdigest()


def _set_row(conn: Connection, set_id: int) -> Any:
    return conn.execute(select(hash_set).where(hash_set.c.id == set_id)).one()


def current(conn: Connection, set_id: int) -> SetContent:
    """The set's content as the tables hold it now (a full recompute of its entries)."""
    row = _set_row(conn, set_id)
    count, digest = sum_entries(conn, entry.c.set_id == set_id)
    return SetContent(row.id, row.name, row.kind, row.category_scheme, count, digest)


def empty(set_id: int, name: str, kind: str, category_scheme: str | None) -> SetContent:
    """A new set's content: no entries, digest 0."""
    return SetContent(set_id, name, kind, category_scheme, 0, 0)


def after_import(
    conn: Connection, set_id: int, import_id: int, *, added: int, deleted: int, change: int,
    before: SetContent | None, above: int | None = None,
) -> SetContent:
    """The set's content after an import: `before` (as last recorded) plus the entries this import added, plus
    `change` (the delta's terms for entries it updated or deleted that earlier imports had added).

    A set with no recorded content (made before hashwarden recorded digests) gets a full recompute: its baseline.
    `above`, when given, is an id every entry the import added lies above: the sum then reads that id range, not
    every entry of the set (a 100k-line delta into a 10M set read all 10M to find its own rows).
    """
    row = _set_row(conn, set_id)
    if before is None:
        return current(conn, set_id)
    mine = and_(entry.c.set_id == set_id, entry.c.import_id == import_id)
    _, term = sum_entries(conn, mine if above is None else and_(mine, entry.c.id > above))
    return SetContent(row.id, row.name, before.kind, row.category_scheme, before.entries + added - deleted,
                      (before.digest + term + change) % MODULUS)


def change_of(conn: Connection, condition: Any, import_id: int) -> int:
    """The digest term of the entries matching `condition` that an earlier import added (those this import added
    are counted once, at their final value, by `after_import`): subtract it before deleting or updating them,
    add it again after an update."""
    return sum_entries(conn, _earlier(condition, import_id))[1]


def _earlier(condition: Any, import_id: int) -> Any:
    """`condition`, for the entries an earlier import than `import_id` added."""
    return and_(condition, func.coalesce(entry.c.import_id, -1) != import_id)


@dataclass(frozen=True)
class Rows:
    """The rows `change_of` would hash, read but not hashed yet (`rows_of`), so that the hashing, pure Python, can
    run in another thread while the connection goes on with SQL (which releases the GIL)."""

    entries: list[Any]
    frames: list[Any]

    def term(self) -> int:
        """What `change_of` returns for these rows."""
        totals: dict[Any, list[int]] = {}
        _add_terms(self.entries, ENTRY_TAG, False, totals)
        _add_terms(self.frames, FRAME_TAG, False, totals)
        return totals.get(None, [0, 0])[1] % MODULUS


def rows_of(conn: Connection, condition: Any, import_id: int) -> Rows:
    """The rows of the entries matching `condition` that an earlier import added, and of their frames, as
    `change_of` reads them (`Rows.term` hashes them)."""
    earlier = _earlier(condition, import_id)
    return Rows(list(live.rows(conn, select(*ENTRY_COLUMNS).where(earlier))),
                list(live.rows(conn, frames_of(earlier))))
