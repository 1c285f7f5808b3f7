"""Self-reports as rows: recorded with a fresh reference code, listed for analysts, reviewed (issue 20).

What a report may hold is checked before it gets here (service/self_reports.py's schema, grading/self_reports.py's
vocabularies); this module keeps the rows and their invariants: a unique reference code per report, one report per
proof-of-work challenge (`proof` is unique: a replayed challenge is refused in every process sharing the store), and
an audit row for each report received and each review, naming the reference and never the hashes (the log is not a
copy of what children reported).

The reference is what the reporter keeps to ask about their report: 12 characters of Crockford's base32 (no I, L,
O or U, so it can be read out and typed without confusion), in three groups, 60 random bits: unguessable, so that
knowing one reference says nothing of another.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hashwarden.errors import StoreError
from hashwarden.store import audit
from hashwarden.store.db import serialise_writers, utc_now
from hashwarden.store.records import Vote
from hashwarden.store.schema import self_report, vote

__all__ = ["RECEIVED", "CONFIRMED", "REJECTED", "STATUSES", "SelfReport", "DuplicateProof", "confirmed_reports",
           "get_report", "list_reports", "lock_reports", "new_reference", "record_report", "review_report"]

RECEIVED, CONFIRMED, REJECTED = "received", "confirmed", "rejected"
STATUSES = (RECEIVED, CONFIRMED, REJECTED)
RECEIVE_ACTION = "self_report.receive"
REVIEW_ACTION = "self_report.review"
REPORTER = "self-report"  # the audit actor of a report received: the reporter is nobody the store knows
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
_LOCK = 0x73726570  # "srep": the PostgreSQL advisory lock of reviews (store/db.py serialise_writers)


class DuplicateProof(StoreError):
    """The proof-of-work challenge of a report was spent by an earlier report."""


@dataclass(frozen=True)
class SelfReport:
    """One report: hashes as lowercase hex, vPDQ frames as dicts (frame, quality, pdq, timestamp), the reporter's
    flags, and once stored its id, reference, time and review."""

    md5: str
    sha256: str
    media_type: str
    pdq: str | None = None
    pdq_quality: int | None = None
    vpdq: list[dict[str, Any]] | None = None
    age_band: str = "not-said"
    being_shared: str = "unknown"
    proof: str = ""
    id: int | None = None
    reference: str | None = None
    created_at: str | None = None
    status: str = RECEIVED
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    vote_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The report as analysts read it (`GET /v1/self-reports`, `self-report list --json`)."""
        out = {name: getattr(self, name) for name in (
            "reference", "created_at", "status", "media_type", "md5", "sha256", "pdq", "pdq_quality", "age_band",
            "being_shared", "reviewed_by", "reviewed_at", "vote_id")}
        out["vpdq_frames"] = len(self.vpdq or [])
        return out

    @classmethod
    def from_row(cls, row: Any) -> "SelfReport":
        hexed = {name: bytes(row[name]).hex() if row[name] is not None else None for name in ("md5", "sha256", "pdq")}
        return cls(**hexed, media_type=row["media_type"], pdq_quality=row["pdq_quality"],
                   vpdq=json.loads(row["vpdq"]) if row["vpdq"] else None, age_band=row["age_band"],
                   being_shared=row["being_shared"], proof=row["proof"], id=row["id"], reference=row["reference"],
                   created_at=row["created_at"], status=row["status"], reviewed_by=row["reviewed_by"],
                   reviewed_at=row["reviewed_at"], vote_id=row["vote_id"])


def new_reference() -> str:
    """A fresh reference code: `XXXX-XXXX-XXXX`, 60 random bits in Crockford's base32."""
    value = secrets.randbits(60)
    chars = "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in range(12))
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def record_report(conn: Connection, report: SelfReport) -> SelfReport:
    """Store a received report with a new reference (audited: the reference, not the hashes), in the caller's
    transaction; return it as stored. Its time is kept to the minute.

    Raises:
        DuplicateProof: its proof-of-work challenge was spent already.
    """
    now = utc_now()
    created = now[:16] + ":00.000000Z"  # to the minute: "YYYY-MM-DDTHH:MM"
    for _ in range(5):  # a collision of 60 random bits is all but impossible; a retry costs nothing
        reference = new_reference()
        row = {
            "reference": reference, "md5": bytes.fromhex(report.md5), "sha256": bytes.fromhex(report.sha256),
            "pdq": bytes.fromhex(report.pdq) if report.pdq else None, "pdq_quality": report.pdq_quality,
            "vpdq": json.dumps(report.vpdq, separators=(",", ":")) if report.vpdq else None,
            "media_type": report.media_type, "age_band": report.age_band, "being_shared": report.being_shared,
            "proof": report.proof, "created_at": created, "status": RECEIVED}
        try:
            with conn.begin_nested():
                report_id = conn.execute(insert(self_report).values(row).returning(self_report.c.id)).scalar_one()
        except IntegrityError:
            if conn.execute(select(self_report.c.id).where(self_report.c.proof == report.proof)).first():
                raise DuplicateProof("this proof of work was spent by an earlier report: ask for a new challenge"
                                     ) from None
            continue
        audit.append(conn, RECEIVE_ACTION, {"self_report": report_id, "reference": reference}, actor=REPORTER)
        return replace(report, id=report_id, reference=reference, created_at=created, status=RECEIVED)
    raise StoreError("could not draw an unused reference code")


def lock_reports(conn: Connection) -> None:
    """Make the caller's transaction the only reviewer of reports until it ends, before it reads the report it
    changes (`db.serialise_writers`: on SQLite the write lock, taken at once)."""
    serialise_writers(conn, _LOCK, "self_report")


def get_report(conn: Connection, reference: str) -> SelfReport:
    """The report of `reference` (case and blanks forgiven, as a code read out may be typed).

    Raises:
        StoreError: no report has that reference.
    """
    wanted = reference.strip().upper()
    row = conn.execute(select(self_report).where(self_report.c.reference == wanted)).mappings().first()
    if row is None:
        raise StoreError(f"no self-report with reference {reference!r}")
    return SelfReport.from_row(row)


def list_reports(conn: Connection, status: str | None = None, after: int | None = None,
                 limit: int = 100) -> list[SelfReport]:
    """Up to `limit` reports (only those in `status`, when given), oldest first, after the report id `after`."""
    query = select(self_report).order_by(self_report.c.id).limit(limit)
    if status is not None:
        query = query.where(self_report.c.status == status)
    if after is not None:
        query = query.where(self_report.c.id > after)
    return [SelfReport.from_row(row) for row in conn.execute(query).mappings()]


def confirmed_reports(conn: Connection) -> Iterator[tuple[SelfReport, Vote]]:
    """Every confirmed report with its confirmation vote, oldest first (what the self-report set is made of)."""
    query = select(self_report).where(self_report.c.status == CONFIRMED).order_by(self_report.c.id)
    reports = [SelfReport.from_row(row) for row in conn.execute(query).mappings()]
    for start in range(0, len(reports), 5_000):
        chunk = reports[start:start + 5_000]
        votes = {row["id"]: Vote.from_row(row) for row in conn.execute(
            select(vote).where(vote.c.id.in_([report.vote_id for report in chunk]))).mappings()}
        for report in chunk:
            yield report, votes[report.vote_id]


def review_report(conn: Connection, report: SelfReport, status: str, reviewer: str, vote_id: int | None,
                  note: str | None = None) -> SelfReport:
    """Record a review of `report` (its new status, who, when, the confirmation vote), audited, in the caller's
    transaction (after `lock_reports`).

    Raises:
        StoreError: an unknown status.
    """
    if status not in STATUSES:
        raise StoreError(f"a self-report's status is one of {', '.join(STATUSES)}, not {status!r}")
    now = utc_now()
    conn.execute(update(self_report).where(self_report.c.id == report.id).values(
        status=status, reviewed_by=reviewer, reviewed_at=now, vote_id=vote_id))
    audit.append(conn, REVIEW_ACTION, {"self_report": report.id, "reference": report.reference, "status": status,
                                       "vote": vote_id, "note": note}, actor=reviewer)
    return replace(report, status=status, reviewed_by=reviewer, reviewed_at=now, vote_id=vote_id)
