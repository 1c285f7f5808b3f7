"""What a subscriber holds of a published URL list (issue 19): `url_subscription`.

Revision ID: 0015
Revises: 0014

A database holds one URL list, so at most one row (`id` is always 1): the repository the list follows (the SHA-256
of the root.json the subscription started from), the published version it holds, and the local list version
(`store.urls.list_version`) subscribe left it at, so a local change made after subscribing (`url add`, `url remove`)
is seen and refused rather than silently mixed with, or overwritten by, the publisher's. A table of its own rather
than a generalised `subscription`: that one is keyed by the set it describes (deleted with it), and the URL list
is no set.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "url_subscription",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repository", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("local_version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_url_subscription_one_row"),
    )


def downgrade() -> None:
    op.drop_table("url_subscription")
