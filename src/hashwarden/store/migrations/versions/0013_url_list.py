"""The URL list: Safe Browsing expressions of pages, images, paths and domains to block (issue 19).

Revision ID: 0013
Revises: 0012

One row per listing of an expression (`host/`, `host/dir/`, `host/path?query`, as `urls.expressions` makes them)
with its SHA-256, what kind of entry it is, who reported it and why, and an opaque public id (what a check answers,
never the expression). Removal keeps the row (`removed_at`, `removed_version`): the history of the list, and what a
subscriber's delta removes. `added_version`/`removed_version` number the list's changes, so the list as it stood at
any version, and the change since, are queries. At most one current row per expression: a partial unique index.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "url_entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("public_id", sa.String(32), nullable=False, unique=True),
        sa.Column("expression", sa.Text, nullable=False),
        sa.Column("sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("category", sa.String(32)),
        sa.Column("source", sa.String(200)),
        sa.Column("reporter", sa.String(200)),
        sa.Column("evidence_sha256", sa.LargeBinary(32)),
        sa.Column("appeal", sa.String(16), nullable=False, server_default="none"),
        sa.Column("added_at", sa.String(32), nullable=False),
        sa.Column("added_version", sa.Integer, nullable=False),
        sa.Column("removed_at", sa.String(32)),
        sa.Column("removed_version", sa.Integer),
        sa.Column("removed_reason", sa.Text),
    )
    where = sa.text("removed_at IS NULL")
    op.create_index("ux_url_entry_current", "url_entry", ["sha256"], unique=True, sqlite_where=where,
                    postgresql_where=where)
    op.create_index("ix_url_entry_sha256", "url_entry", ["sha256"])
    op.create_index("ix_url_entry_added", "url_entry", ["added_version"])
    op.create_index("ix_url_entry_removed", "url_entry", ["removed_version"])


def downgrade() -> None:
    op.drop_table("url_entry")
