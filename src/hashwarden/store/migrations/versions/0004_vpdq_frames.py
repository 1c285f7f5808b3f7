"""vPDQ frames of known videos.

Revision ID: 0004
Revises: 0003

A video entry keeps its MD5/SHA-1 like any entry; its perceptual signal is a list of frame hashes (frame number,
quality, PDQ, seconds), consecutive repeats removed. One row per frame, so the scan can load every known video's
frames into one PDQ index; deleting the entry deletes its frames.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    entry_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "vpdq_frame",
        sa.Column("entry_id", entry_id, sa.ForeignKey("entry.id", ondelete="CASCADE"), nullable=False),
        sa.Column("frame", sa.Integer, nullable=False),
        sa.Column("quality", sa.Integer, nullable=False),
        sa.Column("pdq", sa.LargeBinary(32), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "frame", name="pk_vpdq_frame"),
    )


def downgrade() -> None:
    op.drop_table("vpdq_frame")
