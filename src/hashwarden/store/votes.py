"""Grading votes as rows: recorded (superseding the reviewer's earlier vote on the same media), read back (issue 18).

What a vote may say (schemes, categories, age bands ...) is grading's to check (grading/votes.py); this module
keeps the rows and their two invariants:

- **One identity per media.** A vote names its media by one or more hashes. The media's key is taken from the
  votes already cast on it: any earlier vote sharing one of the new vote's hashes (same kind, same value) names the
  media, and the new vote gets its key. Media no vote has named yet is keyed by the strongest hash the vote gives
  (`sha256:<hex>`, else sha1, md5, pdq: `VOTE_DIGESTS`). So a media first graded by sha256 and md5 is found again
  by its md5 alone; a vote whose hashes point at two different media, or that gives a hash contradicting the one
  earlier votes give (another md5 for the same sha256), is refused. Votes that share no hash (one by md5 only,
  another by sha256 only) are two media until a vote names both before either was graded: name the strongest hash
  you have, consistently.
- **One current vote per reviewer (agency and reviewer name) per media.** The earlier vote is marked
  `superseded_by` the new one, at its time, and kept; a partial unique index makes a second current vote
  impossible. Writers are serialised for the transaction (`_lock_votes`): votes are human-paced, and one lock also
  makes the identity lookup above race-free, which a unique index alone could not.

Every vote is a row of the audit chain, in the same transaction: its id, the vote it supersedes, scheme, category,
reviewer, agency, and the vote's digest (`Vote.digest`; its hashes stay in the vote's row, out of the log), which
`audit verify` recomputes from the vote's row (store/audit.py), so a vote edited, added or removed behind
hashwarden's back is found.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection

from hashwarden.errors import GradingError
from hashwarden.store import audit
from hashwarden.store.db import serialise_writers, utc_now
from hashwarden.store.records import VOTE_DIGESTS, Vote
from hashwarden.store.schema import vote

# Any constant: the key of the PostgreSQL advisory lock that serialises vote writers (store/db.py uses its own).
_VOTE_LOCK = 0x766F7465  # "vote"
ATTRIBUTES = ("age_band", "sex", "self_generated", "capture_device", "redistributed")
__all__ = ["ATTRIBUTES", "Vote", "iter_votes", "media_key", "media_votes", "record_votes"]


def record_votes(conn: Connection, votes: Iterable[Vote]) -> list[Vote]:
    """Store `votes` in the caller's transaction, each superseding its reviewer's current vote on the same media,
    and audit each; return them as stored. Call it before anything else reads in the transaction (SQLite: the
    lock is a write, and a transaction that read first cannot take it).

    Raises:
        GradingError: a vote names no hash, or hashes that point at two media or contradict earlier votes.
    """
    _lock_votes(conn)
    stored = []
    for given in votes:
        media = _media_of(conn, given)
        now = utc_now()
        previous = conn.execute(select(vote.c.id).where(
            vote.c.media == media, vote.c.agency == given.agency, vote.c.reviewer == given.reviewer,
            vote.c.superseded_at.is_(None))).scalar()
        if previous is not None:  # out of the unique index first, linked to its successor once that has an id
            conn.execute(update(vote).where(vote.c.id == previous).values(superseded_at=now))
        row = {**_row(given), "media": media, "voted_at": now}
        vote_id = conn.execute(insert(vote).values(row).returning(vote.c.id)).scalar_one()
        if previous is not None:
            conn.execute(update(vote).where(vote.c.id == previous).values(superseded_by=vote_id))
        done = replace(given, id=vote_id, media=media, voted_at=now)
        audit.append(conn, audit.VOTE_ACTION, {
            "vote": vote_id, "supersedes": previous, "scheme": done.scheme, "category": done.category,
            "reviewer": done.reviewer, "agency": done.agency, "source": done.source,
            "vote_sha256": done.digest()})
        stored.append(done)
    return stored


def iter_votes(conn: Connection, current_only: bool = False) -> Iterator[Vote]:
    """Every vote (or only the current ones), grouped by media (in media key order), oldest first within it."""
    query = select(vote).order_by(vote.c.media, vote.c.id)
    if current_only:
        query = query.where(vote.c.superseded_at.is_(None))
    for row in conn.execute(query.execution_options(yield_per=10_000)).mappings():
        yield Vote.from_row(row)


def media_votes(conn: Connection, media: str) -> list[Vote]:
    """Every vote on one media, superseded ones included (its history), oldest first."""
    return [Vote.from_row(row) for row in conn.execute(
        select(vote).where(vote.c.media == media).order_by(vote.c.id)).mappings()]


def _lock_votes(conn: Connection) -> None:
    """Serialise vote writers until the transaction ends (`db.serialise_writers`)."""
    serialise_writers(conn, _VOTE_LOCK, "vote")


def _media_of(conn: Connection, given: Vote) -> str:
    """The identity key of the media `given` names (see the module docstring).

    Raises:
        GradingError: no hash, hashes of two media, or a hash contradicting earlier votes on the media.
    """
    return media_key(conn, given.hashes())


def media_key(conn: Connection, hashes: dict[str, str]) -> str:
    """The identity key of the media named by `hashes` (digest name: lowercase hex, strongest first, as
    `Vote.hashes` gives them): the key of the votes already cast on it, else `<strongest digest>:<hex>`. Series
    and victim links name media by the same key (store/series.py).

    Raises:
        GradingError: no hash, hashes of two media, or a hash contradicting earlier votes on the media.
    """
    if not hashes:
        raise GradingError("a vote names its media by at least one hash (md5, sha1, sha256 or pdq)", field="hash")
    raw = {name: bytes.fromhex(value) for name, value in hashes.items()}
    found = sorted(conn.execute(select(vote.c.media).distinct().where(
        or_(*(vote.c[name] == value for name, value in raw.items())))).scalars())
    if len(found) > 1:
        raise GradingError(f"these hashes name media already graded as two different media: {', '.join(found)}",
                           field="hash")
    if not found:
        name, value = next(iter(hashes.items()))
        return f"{name}:{value}"
    media = found[0]
    for row in conn.execute(select(*(vote.c[name] for name in VOTE_DIGESTS)).where(vote.c.media == media)):
        for name, value in raw.items():
            known = row._mapping[name]
            if known is not None and bytes(known) != value:
                raise GradingError(f"{name} {hashes[name]} differs from the {name} earlier votes give this media "
                                   f"({media}): {bytes(known).hex()}", field=name)
    return media


def _row(given: Vote) -> dict[str, object]:
    row = {name: getattr(given, name) for name in (
        "scheme", "category", *ATTRIBUTES, "reviewer", "agency", "source", "note")}
    row.update({name: bytes.fromhex(value) for name, value in given.hashes().items()})
    return row
