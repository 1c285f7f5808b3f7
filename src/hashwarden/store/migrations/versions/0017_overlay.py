"""The overlay of subscribed sets: a published delta's additions and removals kept beside `entry` (issue 19).

Revision ID: 0017
Revises: 0016

Applying a 100k-line delta to a 10M-entry set wrote ~1.45 GB of pages twice (WAL, then checkpoint): random
hashes dirty nearly every leaf of every digest index. The delta now goes to three small tables instead
(store/overlay.py), merged into `entry` later, many deltas at once:
- `entry_recent`: added entries, `entry`'s columns and indexes; ids from `entry`'s own sequence (PostgreSQL) or
  started above `entry`'s highest id through `sqlite_sequence` (SQLite, hence AUTOINCREMENT), so an entry keeps
  its id when merged;
- `vpdq_frame_recent`: their vPDQ frames;
- `entry_gone`: ids of `entry` rows a delta removed (with their set, for counts).
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_DIGESTS = ("sha256", "sha1", "md5", "pdq", "vpdq_sha256")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    entry_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    identity = (sa.Column("id", sa.BigInteger, primary_key=True, server_default=sa.text("nextval('entry_id_seq')"))
                if postgresql else sa.Column("id", sa.Integer, primary_key=True))
    op.create_table(
        "entry_recent",
        identity,
        sa.Column("set_id", sa.Integer, sa.ForeignKey("hash_set.id", ondelete="CASCADE"), nullable=False),
        sa.Column("md5", sa.LargeBinary(16)),
        sa.Column("sha1", sa.LargeBinary(20)),
        sa.Column("sha256", sa.LargeBinary(32)),
        sa.Column("pdq", sa.LargeBinary(32)),
        sa.Column("pdq_quality", sa.Integer),
        sa.Column("media", sa.String(16)),
        sa.Column("size", sa.BigInteger),
        sa.Column("category", sa.String(32)),
        sa.Column("category_scheme", sa.String(64)),
        sa.Column("series", sa.Text),
        sa.Column("victim_identified", sa.Boolean),
        sa.Column("offender_identified", sa.Boolean),
        sa.Column("is_distributed", sa.Boolean),
        sa.Column("tags", sa.Text),
        sa.Column("comments", sa.Text),
        sa.Column("date_updated", sa.String(32)),
        sa.Column("provenance", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("media_id", sa.String(100)),
        sa.Column("photodna", sa.Text),
        sa.Column("attributes", sa.Text),
        sa.Column("import_id", sa.Integer),
        sa.Column("line", sa.BigInteger),
        sa.Column("vpdq_sha256", sa.LargeBinary(32)),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_entry_recent_set", "entry_recent", ["set_id"])
    for name in _DIGESTS:
        where = sa.text(f"{name} IS NOT NULL")
        op.create_index(f"ix_entry_recent_{name}", "entry_recent", [name, "set_id"], sqlite_where=where,
                        postgresql_where=where)
    op.create_table(
        "vpdq_frame_recent",
        sa.Column("entry_id", entry_id, sa.ForeignKey("entry_recent.id", ondelete="CASCADE"), nullable=False),
        sa.Column("frame", sa.Integer, nullable=False),
        sa.Column("quality", sa.Integer, nullable=False),
        sa.Column("pdq", sa.LargeBinary(32), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "frame", name="pk_vpdq_frame_recent"),
    )
    op.create_table(
        "entry_gone",
        sa.Column("id", entry_id, primary_key=True, autoincrement=False),
        sa.Column("set_id", sa.Integer, nullable=False),
    )
    op.create_index("ix_entry_gone_set", "entry_gone", ["set_id"])


def downgrade() -> None:
    held = op.get_bind().execute(sa.text(
        "SELECT (SELECT count(*) FROM entry_recent) + (SELECT count(*) FROM entry_gone)")).scalar()
    if held:  # dropping the tables would lose published changes, or bring removed entries back
        raise RuntimeError(f"the overlay holds {held} unmerged changes: run `hashwarden set merge` first")
    op.drop_table("entry_gone")
    op.drop_table("vpdq_frame_recent")
    op.drop_table("entry_recent")
