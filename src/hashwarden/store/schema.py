"""The hash database's tables (SQLAlchemy Core). Hashes and metadata only: there is no column for imagery.

Digests and PDQ are stored as raw bytes (md5 16, sha1 20, sha256 32, pdq 32; BLOB on SQLite, bytea on PostgreSQL):
half the size of hex, and what the indexes compare. Timestamps are ISO-8601 UTC text so that they hash identically
in the audit chain on every backend.
Alembic migrations in `store/migrations/versions/` create these tables; this module is what queries import.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from hashwarden.store.records import VOTE_DIGESTS

metadata = MetaData()
_PARTIAL_WHERE = "hashwarden_where"  # an index's `info` key: the rows it holds, on every backend


def partial_index(name: str, *expressions: Any, where: Any, **kwargs: Any) -> Index:
    """An index of the rows where `where` holds, on SQLite and PostgreSQL alike.

    PostgreSQL's copy of the clause is attached where PostgreSQL DDL is made from the schema
    (`attach_postgresql_where`): written here as `postgresql_where`, it made SQLAlchemy load its PostgreSQL
    dialects (asyncpg's, pg8000's and psycopg's too) to check the argument, ~0.05 s of every command on an
    SQLite store."""
    return Index(name, *expressions, sqlite_where=where, info={_PARTIAL_WHERE: where}, **kwargs)


def attach_postgresql_where() -> None:
    """Give every partial index of the schema its WHERE clause for PostgreSQL (idempotent). Only DDL reads it:
    `store.indexes` building the entry's digest indexes again after a large import (the migrations write their
    own)."""
    for table in metadata.tables.values():
        for index in table.indexes:
            if _PARTIAL_WHERE in index.info:
                index.dialect_options["postgresql"]["where"] = index.info[_PARTIAL_WHERE]


# audit.actor's length: a fact of the schema (migration 0001), not a setting; the audit refuses longer names.
MAX_ACTOR = 200

hash_set = Table(
    "hash_set",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("source", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("category_scheme", String(64)),
    Column("version", String(64)),
    Column("description", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    CheckConstraint("kind IN ('alert', 'ignorable')", name="ck_hash_set_kind"),
)

# 64-bit on PostgreSQL (a few NSRL releases pass 2**31 entry ids); SQLite's INTEGER PRIMARY KEY is already 64-bit
# and must keep that exact type to stay the rowid.
ENTRY_ID = BigInteger().with_variant(Integer(), "sqlite")

entry = Table(
    "entry",
    metadata,
    Column("id", ENTRY_ID, primary_key=True),
    Column("set_id", Integer, ForeignKey("hash_set.id", ondelete="CASCADE"), nullable=False),
    Column("md5", LargeBinary(16)),
    Column("sha1", LargeBinary(20)),
    Column("sha256", LargeBinary(32)),
    Column("pdq", LargeBinary(32)),
    Column("pdq_quality", Integer),
    Column("media", String(16)),
    Column("size", BigInteger),
    Column("category", String(32)),
    Column("category_scheme", String(64)),
    Column("series", Text),  # VICS joins several series names here
    Column("victim_identified", Boolean),
    Column("offender_identified", Boolean),
    Column("is_distributed", Boolean),
    Column("tags", Text),  # JSON array of strings
    Column("comments", Text),
    Column("date_updated", String(32)),
    Column("provenance", Text),  # where this entry came from when not bulk-imported (file:line)
    Column("created_at", String(32), nullable=False),
    Column("media_id", String(100)),  # VICS MediaID
    Column("photodna", Text),  # opaque: stored and exported as given, never computed here
    Column("attributes", Text),  # JSON object: every other field of the list (MediaFiles, Exifs, NSRL codes, ...)
    Column("import_id", Integer),  # the import_run that added it (no FK: see migration 0002)
    Column("line", BigInteger),  # record number in that import's file
    # a video known by its vPDQ frames alone (no md5/sha1/sha256/pdq): `signals.vpdq.frames_sha256` of its
    # frames, its identity within the set (migration 0009); NULL for every other entry
    Column("vpdq_sha256", LargeBinary(32)),
)
Index("ix_entry_set", entry.c.set_id)


# The vPDQ of a video entry: its sampled frames (consecutive repeats removed), one row each (migration 0004).
vpdq_frame = Table(
    "vpdq_frame",
    metadata,
    Column("entry_id", ENTRY_ID, ForeignKey("entry.id", ondelete="CASCADE"), nullable=False),
    Column("frame", Integer, nullable=False),
    Column("quality", Integer, nullable=False),
    Column("pdq", LargeBinary(32), nullable=False),
    Column("timestamp", Float, nullable=False),
    PrimaryKeyConstraint("entry_id", "frame", name="pk_vpdq_frame"),
)

import_run = Table(
    "import_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("set_id", Integer, ForeignKey("hash_set.id", ondelete="CASCADE"), nullable=False),
    Column("format", String(32), nullable=False),
    Column("file", Text, nullable=False),
    Column("file_sha256", String(64)),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("rows", BigInteger, nullable=False),  # records read from the file
    Column("added", BigInteger, nullable=False),  # new entries
    Column("duplicates", BigInteger, nullable=False),  # records already in the set (or repeated in the file)
    Column("details", Text),  # JSON: format-specific counts (e.g. VICS Miniatures dropped)
)
# The digest columns of `entry`, strongest first: an entry's identity within its set, and a duplicate always shares
# its strongest digest with the entry it repeats (what store.duplicates and store.staging look up by). The last,
# `vpdq_sha256`, is filled only when the others are all NULL, so it never splits an identity the others make.
DIGEST_COLUMNS = ("sha256", "sha1", "md5", "pdq", "vpdq_sha256")
# Partial (non-null only) and covering the set: see migrations 0003 and 0009. store.indexes drops and rebuilds
# exactly these.


def _digest_indexes(table: Table) -> None:
    """`ix_<table>_<digest>` for each of `DIGEST_COLUMNS`: partial (non-null only) and covering the set."""
    for name in DIGEST_COLUMNS:
        partial_index(f"ix_{table.name}_{name}", table.c[name], table.c.set_id, where=table.c[name].is_not(None))


_digest_indexes(entry)

# The overlay of subscribed sets (migration 0017, store/overlay.py): a published delta's additions go to
# `entry_recent` (entry's columns, ids from entry's own sequence, always above every id of `entry`) and its removals
# of older entries to `entry_gone` (their ids), so that a 100k-line delta into a 10M-entry set writes two small
# tables instead of dirtying nearly every page of entry's six indexes. Readers see `entry` without the gone ids
# plus `entry_recent`; a merge folds both into `entry`, ids kept.
entry_recent = Table(
    "entry_recent",
    metadata,
    *(column._copy() for column in entry.columns),
    sqlite_autoincrement=True,  # so the ids can be started above entry's (sqlite_sequence), see store/overlay.py
)
Index("ix_entry_recent_set", entry_recent.c.set_id)
_digest_indexes(entry_recent)

entry_gone = Table(
    "entry_gone",
    metadata,
    Column("id", ENTRY_ID, primary_key=True),  # an id of `entry`, removed by a delta, not yet merged
    Column("set_id", Integer, nullable=False),
)
Index("ix_entry_gone_set", entry_gone.c.set_id)

vpdq_frame_recent = Table(  # vpdq_frame's columns, the frames of entries in entry_recent
    "vpdq_frame_recent",
    metadata,
    Column("entry_id", ENTRY_ID, ForeignKey("entry_recent.id", ondelete="CASCADE"), nullable=False),
    *(Column(column.name, column.type, nullable=False) for column in vpdq_frame.columns if column.name != "entry_id"),
    PrimaryKeyConstraint("entry_id", "frame", name="pk_vpdq_frame_recent"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("ts", String(32), nullable=False),
    Column("actor", String(MAX_ACTOR), nullable=False),  # the examiner (config.examiner), else the OS user, marked
    Column("action", String(64), nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    Column("host", String(255)),  # machine name (migration 0005; NULL in older rows, which hash without it)
)

# One row: the chain's head, updated in the same transaction as each append. It serialises appenders (a row lock
# on PostgreSQL) and lets `audit verify` notice a deleted last row.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
)

# Who may use the service (migration 0006, store/identities.py): agencies, and users with one role and the salted
# hash of their key; `key_id` is the key's non-secret prefix, what a request is looked up by.
agency = Table(
    "agency",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("retention_days", Integer),  # cases older than this are purged (store/cases.py); NULL: kept
)

api_user = Table(
    "api_user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("agency_id", Integer, ForeignKey("agency.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_id", String(32), nullable=False, unique=True),
    Column("key_hash", String(200), nullable=False),  # pbkdf2_sha256$iterations$salt hex$hash hex
    Column("created_at", String(32), nullable=False),
    Column("key_created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),  # NULL while the key is valid
    CheckConstraint("role IN ('matcher', 'examiner', 'analyst', 'admin')", name="ck_api_user_role"),
)

# Cases submitted to the service (migration 0007, store/cases.py): a report's header and who sent it, and its
# items with their digests as raw bytes, each digest indexed so that items are found by hash across cases.
case_report = Table(
    "case_report",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("agency_id", Integer, ForeignKey("agency.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("api_user.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("submitted_at", String(32), nullable=False),
    Column("items", Integer, nullable=False),
    Column("header", Text, nullable=False),  # JSON: the report without its items
    Index("ix_case_report_agency", "agency_id", "id"),
)

case_item = Table(
    "case_item",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("case_report.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", String(16)),
    Column("md5", LargeBinary(16)),
    Column("sha1", LargeBinary(20)),
    Column("sha256", LargeBinary(32)),
    Column("pdq", LargeBinary(32)),
    Column("details", Text, nullable=False),  # JSON: the item without its hashes
    # what leads across cases search by (migration 0012): the item's PDQ quality, and `cases.device_digest` of the
    # device that made it
    Column("pdq_quality", SmallInteger),
    Column("device", String(64)),
    Index("ix_case_item_case", "case_id", "position", unique=True),
    Index("ix_case_item_md5", "md5"),
    Index("ix_case_item_sha1", "sha1"),
    Index("ix_case_item_sha256", "sha256"),
    Index("ix_case_item_pdq", "pdq"),
    partial_index("ix_case_item_device", "device", where=text("device IS NOT NULL")),
)

# Grading votes (migration 0010, store/votes.py): one row per vote, a media named by its hashes and its identity
# key `media`; a vote replaced by the same reviewer's newer one points at it (`superseded_by`) and stays. At most
# one current (not superseded) vote per media, agency and reviewer: a partial unique index.
vote = Table(
    "vote",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("media", String(80), nullable=False),  # "<digest>:<hex>", grading/votes.py
    Column("md5", LargeBinary(16)),
    Column("sha1", LargeBinary(20)),
    Column("sha256", LargeBinary(32)),
    Column("pdq", LargeBinary(32)),
    Column("scheme", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("age_band", String(16), nullable=False),
    Column("sex", String(16), nullable=False),
    Column("self_generated", String(16), nullable=False),
    Column("capture_device", String(16), nullable=False),
    Column("redistributed", String(16), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("agency", String(200), nullable=False),  # "" when none was named (local grading)
    Column("source", String(32), nullable=False),  # where the vote came from: "cli", later "service", "vics", ...
    Column("voted_at", String(32), nullable=False),
    Column("note", Text),
    Column("superseded_by", Integer, ForeignKey("vote.id")),
    Column("superseded_at", String(32)),  # NULL: the reviewer's current vote on this media
)
_current = vote.c.superseded_at.is_(None)
partial_index("ux_vote_current", vote.c.media, vote.c.agency, vote.c.reviewer, unique=True, where=_current)
Index("ix_vote_media", vote.c.media)
for _digest in VOTE_DIGESTS:
    _where = vote.c[_digest].is_not(None)
    partial_index(f"ix_vote_{_digest}", vote.c[_digest], where=_where)

# Series and victims (migration 0011, store/series.py): codes and flags only, never a victim's name, date of birth
# or any other personal particular. A link joins two of a series, a victim and a media item (its hashes and its
# identity key, as votes name media); each kind is unique.
series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200)),
    Column("agency", String(200)),
    Column("notes", Text),
    Column("created_at", String(32), nullable=False),
)

victim = Table(
    "victim",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("identified", Boolean, nullable=False),
    Column("agency", String(200)),  # the identifying agency
    Column("identified_on", String(10)),  # YYYY-MM-DD
    Column("created_at", String(32), nullable=False),
)

series_link = Table(
    "series_link",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("series_id", Integer, ForeignKey("series.id")),
    Column("victim_id", Integer, ForeignKey("victim.id")),
    Column("media", String(80)),  # "<digest>:<hex>", store/votes.py `media_key`
    Column("md5", LargeBinary(16)),
    Column("sha1", LargeBinary(20)),
    Column("sha256", LargeBinary(32)),
    Column("pdq", LargeBinary(32)),
    Column("linked_at", String(32), nullable=False),
    CheckConstraint("(CASE WHEN series_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN victim_id IS NULL THEN 0 ELSE 1 "
                    "END) + (CASE WHEN media IS NULL THEN 0 ELSE 1 END) = 2", name="ck_series_link_two_ends"),
)
for _name, _columns, _empty in (("ux_series_link_media", ("series_id", "media"), "victim_id"),
                                ("ux_series_link_victim", ("victim_id", "series_id"), "media"),
                                ("ux_series_link_victim_media", ("victim_id", "media"), "series_id")):
    _where = series_link.c[_empty].is_(None)
    partial_index(_name, *(series_link.c[c] for c in _columns), unique=True, where=_where)
for _digest in VOTE_DIGESTS:
    _where = series_link.c[_digest].is_not(None)
    partial_index(f"ix_series_link_{_digest}", series_link.c[_digest], where=_where)


# The URL list (migration 0013, store/urls.py): one row per listing of a Safe Browsing expression; removal keeps the
# row. `added_version`/`removed_version` number the list's changes (what a subscriber's delta is cut by).
url_entry = Table(
    "url_entry",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("public_id", String(32), nullable=False, unique=True),  # what a check answers: never the expression
    Column("expression", Text, nullable=False),
    Column("sha256", LargeBinary(32), nullable=False),
    Column("kind", String(8), nullable=False),  # domain | path | page | image
    Column("category", String(32)),
    Column("source", String(200)),
    Column("reporter", String(200)),  # the reporting agency
    Column("evidence_sha256", LargeBinary(32)),  # the media seen there, optional
    Column("appeal", String(16), nullable=False, server_default="none"),
    Column("added_at", String(32), nullable=False),
    Column("added_version", Integer, nullable=False),
    Column("removed_at", String(32)),
    Column("removed_version", Integer),
    Column("removed_reason", Text),
    partial_index("ux_url_entry_current", "sha256", unique=True, where=text("removed_at IS NULL")),
    Index("ix_url_entry_sha256", "sha256"),
    Index("ix_url_entry_added", "added_version"),
    Index("ix_url_entry_removed", "removed_version"),
)

# What a subscriber holds of a published set (migration 0014, store/subscriptions.py, distribution/): the published
# version its entries are, and the repository (the SHA-256 of the root.json the subscription was started with, so a
# copy of the repository on removable media is the same repository wherever it is mounted).
subscription = Table(
    "subscription",
    metadata,
    Column("set_id", Integer, ForeignKey("hash_set.id", ondelete="CASCADE"), primary_key=True),
    Column("repository", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# What a subscriber holds of a published URL list (migration 0015): one row, the repository (as `subscription`), the
# published version, and the local list version subscribe left it at (a local change after it is refused).
url_subscription = Table(
    "url_subscription",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("repository", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("local_version", Integer, nullable=False),
    Column("updated_at", String(32), nullable=False),
    CheckConstraint("id = 1", name="ck_url_subscription_one_row"),
)

# Self-reports (migration 0016, store/self_reports.py): the hashes a young person computed of their own picture in
# the browser (web/selfhash/), their optional flags and the report's review. No imagery, no client address.
self_report = Table(
    "self_report",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reference", String(16), nullable=False, unique=True),  # the code the reporter was given
    Column("md5", LargeBinary(16), nullable=False),
    Column("sha256", LargeBinary(32), nullable=False),
    Column("pdq", LargeBinary(32)),
    Column("pdq_quality", SmallInteger),
    Column("vpdq", Text),  # a video's frames, JSON [{frame, quality, pdq, timestamp}]
    Column("media_type", String(64), nullable=False),
    Column("age_band", String(16), nullable=False),
    Column("being_shared", String(16), nullable=False),
    Column("proof", String(64), nullable=False, unique=True),  # SHA-256 of the challenge spent: one report each
    Column("created_at", String(32), nullable=False),  # to the minute
    Column("status", String(16), nullable=False),  # received, confirmed, rejected
    Column("reviewed_by", String(200)),
    Column("reviewed_at", String(32)),
    Column("vote_id", Integer, ForeignKey("vote.id")),  # the analyst's confirmation vote
    Index("ix_self_report_status", "status", "id"),
    Index("ix_self_report_sha256", "sha256"),
)
