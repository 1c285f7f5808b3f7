"""Initial schema: hash sets, entries, the hash-chained audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hash_set",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category_scheme", sa.String(64)),
        sa.Column("version", sa.String(64)),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.CheckConstraint("kind IN ('alert', 'ignorable')", name="ck_hash_set_kind"),
    )
    op.create_table(
        "entry",
        sa.Column("id", sa.Integer, primary_key=True),
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
        sa.Column("series", sa.String(200)),
        sa.Column("victim_identified", sa.Boolean),
        sa.Column("offender_identified", sa.Boolean),
        sa.Column("is_distributed", sa.Boolean),
        sa.Column("tags", sa.Text),
        sa.Column("comments", sa.Text),
        sa.Column("date_updated", sa.String(32)),
        sa.Column("provenance", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_entry_set", "entry", ["set_id"])
    op.create_index("ix_entry_md5", "entry", ["md5"])
    op.create_index("ix_entry_sha1", "entry", ["sha1"])
    op.create_index("ix_entry_sha256", "entry", ["sha256"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit")
    op.drop_table("entry")
    op.drop_table("hash_set")
