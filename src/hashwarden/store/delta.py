"""Applying an NSRL RDSv3 delta (`formats.nsrl.delta.read_delta` ops) to an imported NSRL set.

The store keeps one entry per hash identity in a set, while NSRL's FILE table has one row per hash *and package*.
So a FILE delete removes the set's entry with those hashes even if another package still lists them. That errs
on the safe side for a known-file filter: a file no longer filtered is hashed and shown, never hidden wrongly.
Changes to PKG/OS/MFG/VERSION rows are counted and otherwise ignored (the store keeps no product tables); a FILE
condition that names no hash (e.g. only a package id) cannot be mapped to entries and is reported, not guessed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from hashwarden.config import IMPORT_BATCH_ROWS
from hashwarden.store import digest
from hashwarden.store.records import canonical_json
from hashwarden.store.import_run import finish_import, start_import
from hashwarden.store.loader import add_records
from hashwarden.store.records import EntryRecord, HashSet, ImportResult
from hashwarden.store.schema import entry

_HASHES = ("sha256", "sha1", "md5")


def apply_delta(
    conn: Connection, target: HashSet, ops: Iterable[Any], *, file: str, file_sha256: str | None = None,
    warnings: list[str], ignored: Counter[str],
) -> ImportResult:
    """Apply ops (`formats.nsrl.delta.DeltaOp`) in file order within the caller's transaction; consecutive inserts are
    loaded in bulk. What cannot be applied goes to `warnings`; changes to tables the store does not keep are
    counted in `ignored`. The entries that earlier imports had added and this delta deletes or updates are
    subtracted from (and, updated, added back to) the set's content digest: `ImportResult.content_change`."""
    import_id = start_import(conn, target, fmt="nsrl-delta", file=file, file_sha256=file_sha256)
    rows = added = deleted = updated = change = 0
    pending: list[EntryRecord] = []

    def flush() -> None:
        nonlocal rows, added
        if pending:
            read, new = add_records(conn, target, import_id, pending)
            rows, added = rows + read, added + new
            pending.clear()

    for op in ops:
        if op.table != "FILE":
            ignored[f"{op.table} {op.action}"] += 1
            continue
        if op.action == "insert":
            pending.append(op.record)
            if len(pending) >= IMPORT_BATCH_ROWS:
                flush()
            continue
        flush()
        condition = _condition(target.id, op.key)
        if condition is None:
            warnings.append(f"line {op.line}: FILE {op.action} names no hash; not applied")
            continue
        if op.action == "delete":
            change -= digest.change_of(conn, condition, import_id)
            deleted += conn.execute(entry.delete().where(condition)).rowcount
        elif op.action == "update":
            # by id: an update may change the very hashes the condition names
            by_id = entry.c.id.in_([row.id for row in _matching(conn, condition)])
            change -= digest.change_of(conn, by_id, import_id)
            updated += _update(conn, by_id, op.values)
            change += digest.change_of(conn, by_id, import_id)
    flush()
    result = finish_import(conn, import_id, rows, added)
    return ImportResult(result.import_id, rows, added, rows - added, deleted, updated, content_change=change)


def _condition(set_id: int, key: dict[str, Any]) -> Any:
    terms = [entry.c[name] == bytes.fromhex(key[name]) for name in _HASHES if key.get(name)]
    return and_(entry.c.set_id == set_id, *terms) if terms else None


def _update(conn: Connection, condition: Any, values: dict[str, Any]) -> int:
    """Set hashes and size as columns, other FILE columns (file name, package id, crc32) inside attributes."""
    columns = {name: bytes.fromhex(values[name]) for name in _HASHES if values.get(name)}
    if "size" in values:
        columns["size"] = values["size"]
    extra = {k: v for k, v in values.items() if k not in (*_HASHES, "size")}
    count = 0
    for row in list(_matching(conn, condition)):
        attributes = {**(json.loads(row.attributes) if row.attributes else {}), **extra}
        conn.execute(update(entry).where(entry.c.id == row.id).values(
            **columns, attributes=canonical_json(attributes) if attributes else None))
        count += 1
    return count


def _matching(conn: Connection, condition: Any) -> Iterator[Any]:
    yield from conn.execute(select(entry.c.id, entry.c.attributes).where(condition))
