"""The identity of a video known by its vPDQ frames alone.

Revision ID: 0009
Revises: 0008

An entry is identified within its set by its digests (md5, sha1, sha256, pdq). A video entry with frames and no
digest had none, so the loader's anti-join took every such entry for one already held and dropped it (and kept
a video repeated in one file twice). `vpdq_sha256` is the SHA-256 of its frames as stored
(`signals.vpdq.frames_sha256`), filled only for such entries, with a partial index covering the set like the
digests' (0003). Existing frames-only entries get theirs from their stored frames.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("entry", sa.Column("vpdq_sha256", sa.LargeBinary(32)))
    where = sa.text("vpdq_sha256 IS NOT NULL")
    op.create_index("ix_entry_vpdq_sha256", "entry", ["vpdq_sha256", "set_id"], sqlite_where=where,
                    postgresql_where=where)
    _fill_existing(op.get_bind())


def _fill_existing(conn: sa.engine.Connection) -> None:
    """`vpdq_sha256` of the entries that have frames and no digest (few: one per import could be added before)."""
    from hashwarden.signals.vpdq import VpdqFrame, frames_sha256

    rows = conn.execute(sa.text(
        "SELECT f.entry_id, f.frame, f.quality, f.pdq, f.timestamp FROM vpdq_frame f JOIN entry e "
        "ON e.id = f.entry_id WHERE e.md5 IS NULL AND e.sha1 IS NULL AND e.sha256 IS NULL AND e.pdq IS NULL "
        "ORDER BY f.entry_id, f.frame")).all()
    videos: dict[int, list[VpdqFrame]] = {}
    for entry_id, frame, quality, pdq, timestamp in rows:
        videos.setdefault(entry_id, []).append(VpdqFrame(frame, quality, bytes(pdq).hex(), timestamp))
    for entry_id, frames in videos.items():
        conn.execute(sa.text("UPDATE entry SET vpdq_sha256 = :digest WHERE id = :id"),
                     {"digest": frames_sha256(frames), "id": entry_id})


def downgrade() -> None:
    # A plain DROP COLUMN on both backends (SQLite 3.35+): a batch rebuild of `entry` on SQLite would drop the old
    # table, and with it, through ON DELETE CASCADE, every vPDQ frame.
    op.drop_index("ix_entry_vpdq_sha256", table_name="entry")
    op.execute("ALTER TABLE entry DROP COLUMN vpdq_sha256")
