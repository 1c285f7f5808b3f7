"""The append-only, hash-chained audit log of every import, scan and export.

Each row's hash covers its own fields and the previous row's hash, so editing or deleting any row breaks the chain
from that point on; the `audit_head` row (count and last hash, updated in the same transaction) catches the
deletion of the newest rows. Someone able to rewrite the whole database could rebuild the chain, so the head hash
is also printed by `hashwarden audit verify`, written into each case's custody record, and signed by `audit
checkpoint` (store/checkpoint.py), where it can be kept outside the database.

The chain also proves the data: every change of a set records the set's content digest (store/digest.py) in its
row, and `verify` recomputes each set's digest from its entries and compares it with the latest recorded one; each
grading vote's row records the vote's digest and the vote it supersedes, which `verify` checks every vote against.

Who: the configured examiner name (config.examiner()), else the OS user marked as such; the host is its own field.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from hashwarden import config
from hashwarden.errors import StoreError
from hashwarden.store import digest
from hashwarden.store.db import driver_sql, utc_now
from hashwarden.store.records import Vote, canonical_json
from hashwarden.store.schema import MAX_ACTOR, audit, audit_head, hash_set, series, series_link, victim, vote

GENESIS = "0" * 64


def default_actor() -> str:
    """The examiner named in the configuration; else the OS user, marked as such so that a reader of the log
    knows no examiner was named (a shared account such as root identifies nobody)."""
    name = config.examiner()
    if name:
        return name
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return f"{user} ({config.OS_USER_NOTE})"


def row_hash(row_id: int, ts: str, actor: str, action: str, details: str, prev_hash: str,
             host: str | None = None) -> str:
    """The chain hash of one row; the unit separator keeps fields from running into each other. Rows written
    before the host had its own column (host NULL) hash as they always did."""
    fields = (str(row_id), ts, actor, action, details, prev_hash, *(() if host is None else (host,)))
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()



def _lock_head(conn: Connection) -> tuple[int, str]:
    """(count, head hash): take the head row for this transaction, creating it first if the log is new.

    One upsert that writes the row (creating it, or setting a column to itself) and returns it: the write is what
    serialises appenders, the first two too. On PostgreSQL the second waits for the first's row lock and then
    returns the row the first committed (ON CONFLICT DO UPDATE sees the newest version); on SQLite the write takes
    the database's write lock before anything is read, so the row returned is the newest head. Reading before
    writing let two appenders see the same head (or none) and write the same row number.
    """
    count, head_hash = conn.exec_driver_sql(driver_sql(conn, _LOCK_HEAD), (GENESIS,)).one()
    return int(count), head_hash


# The statements of every append, handed to the driver as written (store/db.py `driver_sql`: an audit row is
# appended for every service request, and Core's per-execution work cost more than the SQL).
_LOCK_HEAD = ('INSERT INTO audit_head (id, "count", head_hash) VALUES (1, 0, ?) '
              'ON CONFLICT (id) DO UPDATE SET "count" = audit_head."count" RETURNING "count", head_hash')
_INSERT_ROW = ("INSERT INTO audit (id, ts, actor, host, action, details, prev_hash, row_hash) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_UPDATE_HEAD = 'UPDATE audit_head SET "count" = ?, head_hash = ? WHERE id = 1'


def append(conn: Connection, action: str, details: dict[str, Any], actor: str | None = None) -> str:
    """Append one event in the caller's transaction and return its row hash."""
    return append_many(conn, [(action, details, actor)])[0]


def append_many(conn: Connection, events: list[tuple[str, dict[str, Any], str | None]]) -> list[str]:
    """Append events (action, details, actor) in this order in the caller's transaction, under one lock of the
    head, and return their row hashes: the service's group commit (service/audit_group.py) writes the rows of
    concurrent requests this way, one transaction for all of them instead of one each."""
    count, prev = _lock_head(conn)
    host = socket.gethostname()
    rows, hashes = [], []
    for action, details, actor in events:
        who = actor or default_actor()
        if len(who) > MAX_ACTOR:
            raise StoreError(f"examiner name longer than {MAX_ACTOR} characters: {who[:40]!r}...")
        count += 1
        ts = utc_now()
        text = canonical_json(details)
        link, prev = prev, row_hash(count, ts, who, action, text, prev, host)
        rows.append((count, ts, who, host, action, text, link, prev))
        hashes.append(prev)
    if rows:
        conn.exec_driver_sql(driver_sql(conn, _INSERT_ROW), rows)
        conn.exec_driver_sql(driver_sql(conn, _UPDATE_HEAD), (count, prev))
    return hashes


def recorded_content(conn: Connection, set_id: int) -> digest.SetContent | None:
    """The set's content as its latest change recorded it, or None (a set made before digests were recorded).

    Rows are read newest first and only those whose details mention content; the log holds one row per import,
    scan and export, so this stays small next to the entries.
    """
    query = (select(audit.c.details).where(audit.c.details.like('%"content":%')).order_by(audit.c.id.desc()))
    for (text,) in conn.execute(query):
        content = _content_of(text)
        if content is not None and content.set_id == set_id:
            return content
    return None


def recorded_generation(conn: Connection) -> str:
    """A digest of every set's content as the audit log last recorded it (SHA-256 hex): it changes with every
    import, rename or deletion of a set and with nothing else. What a matcher built from the store says it answers
    from (the service's health shows it); read from the log, not the entries, so it costs no pass over them."""
    return RecordedContents().generation(conn)


class RecordedContents:
    """`recorded_generation` kept up to date by reading only the audit rows appended since the last call.

    Why: a service process asks for the generation every few seconds (scan/index_generations.py), and the log grows
    by a row per request; folding the whole log each time cost 51 ms per 200k rows per process per poll. Rows are
    appended under the head's lock with ids in commit order (`append_many`), so once a reader sees row N it has
    seen every row below N: the rows up to the highest id read are never read again. Thread-safe (the refresh
    thread and a start-up build may ask at once).
    """

    def __init__(self) -> None:
        self._latest: dict[int, tuple[int, str, digest.SetContent]] = {}
        self._read_to = 0  # every row with an id up to this has been folded in
        self._read_to_hash: str | None = None  # that row's hash: the log read is still the log there
        self._lock = threading.Lock()

    def generation(self, conn: Connection) -> str:
        with self._lock:
            if self._read_to and conn.execute(select(audit.c.row_hash).where(audit.c.id == self._read_to)
                                              ).scalar() != self._read_to_hash:  # not the log read before
                self._latest, self._read_to = {}, 0
            newest = conn.execute(select(func.max(audit.c.id))).scalar() or 0
            query = select(audit.c.id, audit.c.ts, audit.c.details).where(
                audit.c.id > self._read_to, audit.c.id <= newest,
                audit.c.details.like('%"content":%') | audit.c.details.like('%"deleted_set":%')).order_by(audit.c.id)
            for row in conn.execute(query):
                _record_content(self._latest, row.id, row.ts, row.details)
            if newest > self._read_to:
                self._read_to = newest
                self._read_to_hash = conn.execute(select(audit.c.row_hash).where(audit.c.id == newest)).scalar()
            state = [self._latest[set_id][2].fingerprint() for set_id in sorted(self._latest)]
        return hashlib.sha256("\n".join(state).encode("ascii")).hexdigest()


def _record_content(latest: dict[int, tuple[int, str, digest.SetContent]], row_id: int, ts: str,
                    details: str) -> digest.SetContent | None:
    """Fold one audit row into `latest` (set id: the row id, time and content of its latest recorded change): a
    recorded content replaces the set's, a deletion through hashwarden drops it. The content, if the row has one."""
    content = _content_of(details) if '"content":' in details else None
    if content is not None:
        latest[content.set_id] = (row_id, ts, content)
    elif '"deleted_set":' in details:  # deleted through hashwarden: no content left to compare
        latest.pop(int(json.loads(details)["deleted_set"]), None)
    return content


def _content_of(details: str) -> digest.SetContent | None:
    try:
        value = json.loads(details).get("content")
        return digest.SetContent.from_json(value) if isinstance(value, dict) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


@dataclass
class AuditVerification:
    """What `verify` found: `ok` only when every row and the head agree."""

    rows: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)
    sets: int = 0  # sets whose entries were recomputed and matched
    votes: int = 0  # grading votes whose rows matched their audit rows
    notes: list[str] = field(default_factory=list)  # not failures: e.g. sets older than content digests
    # for checkpoints: each row's hash, and the set content a row recorded (by row id)
    chain: dict[int, str] = field(default_factory=dict, repr=False)
    contents: dict[int, dict[int, digest.SetContent]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: Connection, data: bool = True) -> AuditVerification:
    """Recompute the chain from the first row and compare it with every stored hash and the head; with `data`,
    recompute every set's content digest and compare it with the one its latest change recorded."""
    result = AuditVerification()
    prev = GENESIS
    expected_id = 1
    latest: dict[int, tuple[int, str, digest.SetContent]] = {}  # set id: (row id, time, content)
    votes: dict[int, tuple[int, dict[str, Any]]] = {}  # vote id: (row id, details of its grade.vote row)
    series_rows: dict[tuple[Any, ...], int] = {}  # what series/victim rows recorded (`_series_record`): row id
    for row in conn.execute(select(audit).order_by(audit.c.id)):
        if row.id != expected_id:
            result.problems.append(f"row {expected_id} is missing (next row is {row.id})")
            expected_id = row.id
        if row.prev_hash != prev:
            result.problems.append(f"row {row.id}: previous-hash link broken (a row before it was changed or removed)")
        if row_hash(row.id, row.ts, row.actor, row.action, row.details, row.prev_hash, row.host) != row.row_hash:
            result.problems.append(f"row {row.id}: contents do not match its hash (edited)")
        content = _record_content(latest, row.id, row.ts, row.details)
        if row.action == VOTE_ACTION:
            details = _json_object(row.details)
            if isinstance(details.get("vote"), int):
                votes[details["vote"]] = (row.id, details)
        if row.action in SERIES_ACTIONS:
            series_rows.setdefault(_series_record(row.action, _json_object(row.details)), row.id)
        if content is not None:
            result.contents[row.id] = {content.set_id: content}
        result.chain[row.id] = row.row_hash
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
    if data:
        _verify_data(conn, latest, result)
        _verify_votes(conn, votes, result)
        _verify_series(conn, series_rows, result)
    return result


VOTE_ACTION = "grade.vote"  # the audit action of a grading vote (store/votes.py)


# The audit actions of series and victims (store/series.py), whose rows `_verify_series` checks the tables against.
SERIES_ACTIONS = ("series.create", "victim.create", "series.link", "victim.link")


def _series_record(action: str, details: dict[str, Any]) -> tuple[Any, ...]:
    """What an audit row of a series action says exists, as the tables' rows are compared with it."""
    if action == "series.create":
        return ("series", details.get("code"))
    if action == "victim.create":
        return ("victim", details.get("code"), details.get("identified"), details.get("agency"), details.get("date"))
    if action == "series.link":
        return ("link", details.get("series"), None, details.get("media"))
    return ("link", details.get("series"), details.get("victim"), details.get("media"))


def _verify_series(conn: Connection, recorded: dict[tuple[Any, ...], int], result: AuditVerification) -> None:
    """Every series, victim (its code, identified flag, agency and date) and link against the audit rows that
    recorded them: one added or changed outside hashwarden (a victim marked identified, a link made in SQL) has
    no row saying so, and one removed leaves a row that names nothing."""
    found = [("series", code) for code in conn.execute(select(series.c.code)).scalars()]
    found += [("victim", row.code, bool(row.identified), row.agency, row.identified_on)
              for row in conn.execute(select(victim))]
    series_code = {row_id: code for row_id, code in conn.execute(select(series.c.id, series.c.code))}
    victim_code = {row_id: code for row_id, code in conn.execute(select(victim.c.id, victim.c.code))}
    found += [("link", series_code.get(row.series_id), victim_code.get(row.victim_id), row.media)
              for row in conn.execute(select(series_link))]
    for record in found:
        if record not in recorded:
            result.problems.append(f"{record[0]} {' '.join(str(v) for v in record[1:] if v is not None)}: no audit "
                                   "row records it as it stands (added or changed outside hashwarden)")
    present = set(found)
    for record, row_id in sorted(recorded.items(), key=lambda item: item[1]):
        if record not in present:
            result.problems.append(f"{record[0]} recorded by audit row {row_id} is gone or changed (outside "
                                   "hashwarden)")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _verify_votes(conn: Connection, recorded: dict[int, tuple[int, dict[str, Any]]],
                  result: AuditVerification) -> None:
    """Every grading vote against its audit row: the vote's digest as recorded, and which vote superseded it (the
    audit row of the vote that superseded it names it), so a vote edited, inserted, removed or made current again
    outside hashwarden is a problem."""
    superseded_by = {details["supersedes"]: vote_id for vote_id, (_, details) in recorded.items()
                     if isinstance(details.get("supersedes"), int)}
    present = set()
    for row in conn.execute(select(vote).order_by(vote.c.id)).mappings():
        stored = Vote.from_row(row)
        present.add(stored.id)
        audit_row = recorded.get(stored.id)
        if audit_row is None:
            result.problems.append(f"vote {stored.id}: no audit row records it (added outside hashwarden)")
        elif audit_row[1].get("vote_sha256") != stored.digest():
            result.problems.append(f"vote {stored.id}: changed outside hashwarden since audit row {audit_row[0]}")
        elif stored.superseded_by != superseded_by.get(stored.id):
            result.problems.append(f"vote {stored.id}: superseded by {stored.superseded_by}, but the audit records "
                                   f"{superseded_by.get(stored.id)} (changed outside hashwarden)")
        else:
            result.votes += 1
    for vote_id, (row_id, _) in sorted(recorded.items()):
        if vote_id not in present:
            result.problems.append(f"vote {vote_id} (audit row {row_id}) was removed outside hashwarden")


def _verify_data(conn: Connection, latest: dict[int, tuple[int, str, digest.SetContent]],
                 result: AuditVerification) -> None:
    """Every set's entries, recomputed in one pass, against the content its latest recorded change left."""
    actual = digest.all_sets(conn)
    sets = {row.id: row for row in conn.execute(select(hash_set))}
    for set_id, row in sorted(sets.items(), key=lambda item: item[1].name):
        if set_id not in latest:
            result.notes.append(f"set {row.name!r}: no content digest recorded yet (created before hashwarden "
                                f"recorded them); its next import records one")
            continue
        audit_id, ts, recorded = latest[set_id]
        entries, value = actual.get(set_id, (0, 0))
        changed = [what for what, differs in (
            ("entries", entries != recorded.entries or value != recorded.digest),
            ("name", row.name != recorded.name), ("kind", row.kind != recorded.kind),
            ("category scheme", row.category_scheme != recorded.category_scheme)) if differs]
        if changed:
            detail = (f"{recorded.entries} entries recorded, {entries} present" if entries != recorded.entries
                      else ", ".join(changed) + " differ")
            result.problems.append(f"set {row.name!r}: entries changed outside hashwarden since {ts} (the last "
                                   f"recorded change, audit row {audit_id}; {detail})")
        else:
            result.sets += 1
    for set_id, (audit_id, ts, recorded) in sorted(latest.items()):
        if set_id not in sets:
            result.problems.append(f"set {recorded.name!r} (id {set_id}) was removed outside hashwarden since {ts} "
                                   f"(audit row {audit_id})")


def head(conn: Connection) -> tuple[int, str]:
    """(count, head hash) of the chain as recorded: what a custody record quotes."""
    row = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
    return (row.count, row.head_hash) if row else (0, GENESIS)
