"""The append-only, hash-chained audit log of every import, scan and export.

Each row's hash covers its own fields and the previous row's hash, so editing or deleting any row breaks the chain
from that point on; the `audit_head` row (count and last hash, updated in the same transaction) catches the
deletion of the newest rows. Someone able to rewrite the whole database could rebuild the chain, so the head hash
is also printed by `hashwarden audit verify` and written into each case's custody record, where it can be kept
outside the database.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hashwarden.store.db import utc_now
from hashwarden.store.schema import audit, audit_head

GENESIS = "0" * 64


def default_actor() -> str:
    """user@host of the process: who did it, as far as the machine knows."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def row_hash(row_id: int, ts: str, actor: str, action: str, details: str, prev_hash: str) -> str:
    """The chain hash of one row; the unit separator keeps fields from running into each other."""
    text = "\x1f".join((str(row_id), ts, actor, action, details, prev_hash))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _lock_head(conn: Connection) -> Any:
    """Take the head row for this transaction, creating it first if the log is new.

    Creating it with ON CONFLICT DO NOTHING before reading it is what serialises the first two appenders too: on
    PostgreSQL the second waits for the first's row and then locks it (FOR UPDATE); on SQLite the insert is a
    write, so the read after it sees the newest head. Reading first let both see no head and both write row 1.
    """
    dialect_insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[conn.dialect.name]
    conn.execute(
        dialect_insert(audit_head).values(id=1, count=0, head_hash=GENESIS).on_conflict_do_nothing(
            index_elements=[audit_head.c.id]
        )
    )
    return conn.execute(select(audit_head).where(audit_head.c.id == 1).with_for_update()).one()


def append(conn: Connection, action: str, details: dict[str, Any], actor: str | None = None) -> str:
    """Append one event in the caller's transaction and return its row hash."""
    head = _lock_head(conn)
    count, prev = head.count, head.head_hash
    row_id = count + 1
    ts = utc_now()
    who = actor or default_actor()
    text = canonical_json(details)
    digest = row_hash(row_id, ts, who, action, text, prev)
    conn.execute(
        insert(audit).values(id=row_id, ts=ts, actor=who, action=action, details=text, prev_hash=prev, row_hash=digest)
    )
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(count=row_id, head_hash=digest))
    return digest


@dataclass
class AuditVerification:
    """What `verify` found: `ok` only when every row and the head agree."""

    rows: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: Connection) -> AuditVerification:
    """Recompute the chain from the first row and compare it with every stored hash and the head."""
    result = AuditVerification()
    prev = GENESIS
    expected_id = 1
    for row in conn.execute(select(audit).order_by(audit.c.id)):
        if row.id != expected_id:
            result.problems.append(f"row {expected_id} is missing (next row is {row.id})")
            expected_id = row.id
        if row.prev_hash != prev:
            result.problems.append(f"row {row.id}: previous-hash link broken (a row before it was changed or removed)")
        if row_hash(row.id, row.ts, row.actor, row.action, row.details, row.prev_hash) != row.row_hash:
            result.problems.append(f"row {row.id}: contents do not match its hash (edited)")
        prev = row.row_hash
        expected_id += 1
        result.rows += 1
    result.head_hash = prev
    head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
    if head is None:
        if result.rows:
            result.problems.append("audit head record is missing")
    else:
        if head.count != result.rows:
            result.problems.append(f"head records {head.count} rows but {result.rows} are present (rows removed)")
        if head.head_hash != prev:
            result.problems.append("head hash differs from the last row's hash (last rows changed or removed)")
    return result


def head(conn: Connection) -> tuple[int, str]:
    """(count, head hash) of the chain as recorded: what a custody record quotes."""
    row = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
    return (row.count, row.head_hash) if row else (0, GENESIS)
