"""What a subscriber holds of each published set (issue 19): `subscription`.

Revision ID: 0014
Revises: 0013

A subscriber (`hashwarden subscribe`) keeps sets that follow a publisher's signed repository (distribution/). Per
such set: the published version its entries are (the next subscribe applies the deltas from there) and which
repository it follows (the SHA-256 of the root.json the subscription started from), so a set is never fed by
two repositories. A set deleted locally takes its row with it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription",
        sa.Column("set_id", sa.Integer, sa.ForeignKey("hash_set.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("repository", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subscription")
