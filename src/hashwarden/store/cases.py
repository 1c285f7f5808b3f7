"""Cases submitted to the service: a scan's report.json kept under its agency, with who sent it (issue 17).

A case belongs to one agency and only that agency reads or deletes it: every function here takes the caller's
agency and treats another agency's case exactly as a missing one, so that a caller cannot learn that it exists.

The report is split as it is stored: its header (case name, tool, sources, summary, skipped) as one JSON text,
each item as a row whose digests and PDQ are raw bytes in indexed columns (items are found by hash across cases:
what later victim-identification work links) and whose other fields are JSON. `case_head` and `case_items` put the
report back together as it was sent, a batch of items at a time. Case data is personal data (paths can carry
names): the audit rows written here hold the case's id and counts only, never a path, a name or a hash.

An agency may set a retention (`identities.set_retention`): `purge_expired` deletes its cases older than that
(the service runs it at start and periodically, `hashwarden cases purge` at any time). `find_items` finds an
agency's items by hash, across its cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from collections.abc import Iterator

from sqlalchemy import Column, MetaData, Select, Table, delete, insert, literal, literal_column, or_, select, update
from sqlalchemy.engine import Connection

from hashwarden.config import CASE_STAGE_CACHE_KIB
from hashwarden.store import audit
from hashwarden.store.db import TIMESTAMP_FORMAT, utc_now
from hashwarden.store.records import canonical_json
from hashwarden.store.schema import agency, api_user, case_item, case_report

# The item fields stored as raw bytes in their own (indexed) columns; all else of an item is its JSON.
HASH_COLUMNS = ("md5", "sha1", "sha256", "pdq")


@dataclass(frozen=True)
class CaseInfo:
    """A case as `GET /v1/cases` lists it: who sent it and when, and its counts; not its items."""

    id: int
    case: str
    submitted_by: str
    submitted_at: str
    items: int
    summary: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "case": self.case, "submitted_by": self.submitted_by,
                "submitted_at": self.submitted_at, "items": self.items, "summary": self.summary}


@dataclass(frozen=True)
class ItemHit:
    """A case item found by hash: which case, where in it, and its path (the item's id is the page cursor)."""

    id: int
    case_id: int
    position: int
    path: Any

    def public(self) -> dict[str, Any]:
        return {"case": self.case_id, "position": self.position, "path": self.path}


def save_case(conn: Connection, agency_name: str, user_name: str, report: dict[str, Any]) -> int:
    """Store `report` (a validated report.json document) under `agency_name` as sent by `user_name`; return its
    id. Audited with the id and the item count. The caller's transaction makes it all or nothing.

    Raises:
        KeyError: no such user in that agency (the service only calls this for an authenticated caller).
    """
    items = report.get("items", [])
    case_id = begin_case(conn, agency_name, user_name)
    add_items(conn, case_id, 0, items)
    finish_case(conn, case_id, {key: value for key, value in report.items() if key != "items"}, len(items),
                agency_name, user_name)
    return case_id


def begin_case(conn: Connection, agency_name: str, user_name: str) -> int:
    """The first step of storing a case whose items arrive in batches (a streamed submission): its row, with no
    header yet; `add_items` then `finish_case` complete it, all in the caller's one transaction, so nothing of an
    unfinished case is ever committed."""
    agency_id, user_id = conn.execute(
        select(agency.c.id, api_user.c.id).join(api_user, api_user.c.agency_id == agency.c.id)
        .where(agency.c.name == agency_name, api_user.c.name == user_name)).one()
    return conn.execute(insert(case_report).values(
        agency_id=agency_id, user_id=user_id, name="", submitted_at=utc_now(), items=0,
        header="{}")).inserted_primary_key[0]


def add_items(conn: Connection, case_id: int, first_position: int, items: list[dict[str, Any]]) -> None:
    """Store one batch of the case's (validated) items, numbered from `first_position`."""
    if items:
        conn.execute(insert(case_item), [_item_row(case_id, position, item)
                                         for position, item in enumerate(items, first_position)])


def finish_case(conn: Connection, case_id: int, header: dict[str, Any], items: int, agency_name: str,
                user_name: str) -> None:
    """Give the case its header (report.json less its items) and item count; audited with the id and count."""
    conn.execute(update(case_report).where(case_report.c.id == case_id).values(
        name=_column_text(str(header.get("case", "")))[:200], items=items, header=canonical_json(header)))
    audit.append(conn, "case.submit", {"case_id": case_id, "agency": agency_name, "items": items},
                 actor=user_name)


# SQLite: a streamed case's items wait here (a TEMP table: its own file, so writing it takes no lock on the store)
# until the report is complete, then are copied in one statement. Written straight into case_item, they held the
# store's one write lock for as long as the client took to send them: other requests' audit rows waited 5 s and
# failed (500) behind a slow upload. The copy holds the lock for the server's own time only.
_STAGE_COLUMNS = [Column(column.name, column.type, nullable=column.nullable) for column in case_item.columns
                  if column.name not in ("id", "case_id")]
_stage = Table("case_item_stage", MetaData(), *_STAGE_COLUMNS, prefixes=["TEMPORARY"])


class CaseWriter:
    """A case stored as its items arrive, a batch at a time (`add`), then its header (`finish`), all in the
    caller's one transaction: nothing of it is committed before the caller's commit, and a rollback leaves nothing.

    On PostgreSQL the items go straight to case_item (the case's row is written with the first batch); on SQLite
    they are staged in a TEMP table and copied at `finish`, so a slow client never holds the store's write lock.
    """

    def __init__(self, conn: Connection, agency_name: str, user_name: str) -> None:
        self._conn = conn
        self._agency = agency_name
        self._user = user_name
        self._staged = conn.dialect.name == "sqlite"
        self.case_id: int | None = None
        self.items = 0
        if self._staged:  # written once in order and read once: it needs no more than a small page cache
            conn.exec_driver_sql(f"PRAGMA temp.cache_size = -{CASE_STAGE_CACHE_KIB}")
            _stage.create(conn)

    def add(self, items: list[dict[str, Any]]) -> None:
        """Store the next batch of the case's (validated) items."""
        if not items:
            return
        if self._staged:
            rows = [_item_row(0, position, item) for position, item in enumerate(items, self.items)]
            for row in rows:
                del row["case_id"]
            self._conn.execute(insert(_stage), rows)
        else:
            if self.case_id is None:
                self.case_id = begin_case(self._conn, self._agency, self._user)
            add_items(self._conn, self.case_id, self.items, items)
        self.items += len(items)

    def finish(self, header: dict[str, Any]) -> int:
        """Give the case its header (report.json less its items); its id. Audited like `save_case`."""
        if self.case_id is None:
            self.case_id = begin_case(self._conn, self._agency, self._user)
        if self._staged:
            names = [column.name for column in _STAGE_COLUMNS]
            self._conn.execute(insert(case_item).from_select(
                ["case_id", *names],
                select(literal(self.case_id), *(_stage.c[name] for name in names))
                .order_by(literal_column("rowid"))))  # the order they were staged in: a scan, not a sort
            _stage.drop(self._conn)
        finish_case(self._conn, self.case_id, header, self.items, self._agency, self._user)
        return self.case_id


def list_cases(conn: Connection, agency_name: str, limit: int, after: int | None = None) -> list[CaseInfo]:
    """The agency's cases by id, at most `limit` of them with an id above `after`."""
    query = _cases_of(agency_name).order_by(case_report.c.id).limit(limit)
    if after is not None:
        query = query.where(case_report.c.id > after)
    found = []
    for row in conn.execute(query):
        header = json.loads(row.header)
        found.append(CaseInfo(row.id, str(header.get("case", row.name))[:200], row.user_name, row.submitted_at,
                              row.items, header.get("summary", {})))
    return found


def case_head(conn: Connection, agency_name: str, case_id: int) -> dict[str, Any] | None:
    """The case (id, submitted_by, submitted_at) with its report's header only (`case_items` gives the items) and
    its item count as `items`; None when the agency has no case of that id."""
    row = _own_case(conn, agency_name, case_id)
    if row is None:
        return None
    return {"id": row.id, "submitted_by": row.user_name, "submitted_at": row.submitted_at,
            "report": json.loads(row.header), "items": row.items}


def case_items(conn: Connection, case_id: int, batch: int, after: int = -1) -> Iterator[list[dict[str, Any]]]:
    """The case's items as sent, in order, `batch` at a time (by position, so each is one indexed query and
    memory holds one batch), from the one after position `after` (positions count items from 0)."""
    while True:
        rows = conn.execute(select(case_item).where(case_item.c.case_id == case_id, case_item.c.position > after)
                            .order_by(case_item.c.position).limit(batch)).all()
        if not rows:
            return
        yield [_item_of(row) for row in rows]
        after = rows[-1].position


def delete_case(conn: Connection, agency_name: str, case_id: int, user_name: str) -> int | None:
    """Delete the agency's case and its items; return how many items went, or None when the agency has no case
    of that id. Audited with the id and the count."""
    row = _own_case(conn, agency_name, case_id)
    removed = None if row is None else _delete(conn, case_id)
    if removed is None:
        return None
    audit.append(conn, "case.delete", {"case_id": case_id, "agency": agency_name, "items": removed},
                 actor=user_name)
    return removed


def purge_expired(conn: Connection, now: datetime | None = None) -> list[tuple[int, int]]:
    """Delete every case older than its agency's retention (agencies without one keep theirs); return (case id,
    items) of each, each audited as `case.purge` with its id, agency and count. Safe to run in several processes
    at once: a case another purge deleted first is skipped, not audited twice."""
    now = now or datetime.now(timezone.utc)
    purged = []
    for agency_id, agency_name, days in conn.execute(
            select(agency.c.id, agency.c.name, agency.c.retention_days).where(agency.c.retention_days.is_not(None))
            .order_by(agency.c.id)).all():
        cutoff = (now - timedelta(days=days)).strftime(TIMESTAMP_FORMAT)
        for (case_id,) in conn.execute(select(case_report.c.id).where(
                case_report.c.agency_id == agency_id, case_report.c.submitted_at < cutoff)
                .order_by(case_report.c.id)).all():
            removed = _delete(conn, case_id)
            if removed is not None:
                audit.append(conn, "case.purge", {"case_id": case_id, "agency": agency_name, "items": removed,
                                                  "retention_days": days})
                purged.append((case_id, removed))
    return purged


def find_items(conn: Connection, agency_name: str, hashes: dict[str, bytes], limit: int,
               after: int | None = None) -> list[ItemHit]:
    """The agency's case items with any of `hashes` (column name in HASH_COLUMNS -> value), by item id, at most
    `limit` with an id above `after`: what links cases through a file (PDQ matched exactly; a near match would
    read every item's PDQ). No hashes: no items.

    Raises:
        ValueError: a name that is not a hash column.
    """
    if set(hashes) - set(HASH_COLUMNS):
        raise ValueError(f"hashes must be some of {', '.join(HASH_COLUMNS)}")
    if not hashes:
        return []
    query = (select(case_item.c.id, case_item.c.case_id, case_item.c.position, case_item.c.details)
             .join(case_report, case_report.c.id == case_item.c.case_id)
             .join(agency, agency.c.id == case_report.c.agency_id)
             .where(agency.c.name == agency_name, or_(*(case_item.c[name] == value for name, value in hashes.items())))
             .order_by(case_item.c.id).limit(limit))
    if after is not None:
        query = query.where(case_item.c.id > after)
    return [ItemHit(row.id, row.case_id, row.position, json.loads(row.details).get("path"))
            for row in conn.execute(query)]


def _delete(conn: Connection, case_id: int) -> int | None:
    """Delete a case's items, then the case: the items deleted, or None when the case was already gone."""
    removed = conn.execute(delete(case_item).where(case_item.c.case_id == case_id)).rowcount
    if conn.execute(delete(case_report).where(case_report.c.id == case_id)).rowcount != 1:
        return None
    return removed


def _cases_of(agency_name: str) -> Select:
    """The agency's cases with their submitters' names: the one query every read starts from, so that no read
    can forget the agency."""
    return (select(case_report, api_user.c.name.label("user_name"))
            .join(api_user, api_user.c.id == case_report.c.user_id)
            .join(agency, agency.c.id == case_report.c.agency_id).where(agency.c.name == agency_name))


def _own_case(conn: Connection, agency_name: str, case_id: int) -> Any:
    return conn.execute(_cases_of(agency_name).where(case_report.c.id == case_id)).first()


def _column_text(text: str) -> str:
    """`text` as a text column can hold it on both backends: PostgreSQL refuses NUL (a 500 before this). The
    case is answered from its JSON header, which keeps it exactly; the column is its searchable copy."""
    return text.replace("\x00", "\ufffd")


def _item_row(case_id: int, position: int, item: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"case_id": case_id, "position": position, "status": item.get("status")}
    for name in HASH_COLUMNS:
        row[name] = bytes.fromhex(item[name]) if item.get(name) else None
    row["details"] = canonical_json({k: v for k, v in item.items() if k not in HASH_COLUMNS})
    return row


def _item_of(row: Any) -> dict[str, Any]:
    """An item as it was sent: its JSON with its hashes back as lowercase hex (null where it had none)."""
    details = json.loads(row.details)
    hashes = {name: getattr(row, name).hex() if getattr(row, name) is not None else None for name in HASH_COLUMNS}
    return {**details, **hashes}
