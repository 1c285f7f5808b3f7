"""Digest indexes that serve both lookups and bulk import: partial (non-null only) and covering the set.

Revision ID: 0003
Revises: 0002

A list holding only MD5s left millions of NULLs in the sha1/sha256 indexes; partial indexes skip them, so
building them after a bulk load costs nothing for absent digests. Adding `set_id` makes the duplicate check of an
import (values repeated within one set) an index-only scan. PDQ gets an index too, for the same check on PDQ-only
lists. Lookups by digest alone still use these indexes (leading column). `series` becomes unbounded text: VICS
lists join several series names in it, and PostgreSQL (unlike SQLite) enforces a VARCHAR length.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DIGESTS = ("md5", "sha1", "sha256", "pdq")


def upgrade() -> None:
    for name in ("md5", "sha1", "sha256"):
        op.drop_index(f"ix_entry_{name}", table_name="entry")
    for name in DIGESTS:
        where = sa.text(f"{name} IS NOT NULL")
        op.create_index(f"ix_entry_{name}", "entry", [name, "set_id"], sqlite_where=where, postgresql_where=where)
    if op.get_bind().dialect.name == "postgresql":  # SQLite does not enforce declared lengths
        op.alter_column("entry", "series", type_=sa.Text, existing_type=sa.String(200))


def downgrade() -> None:
    for name in DIGESTS:
        op.drop_index(f"ix_entry_{name}", table_name="entry")
    for name in ("md5", "sha1", "sha256"):
        op.create_index(f"ix_entry_{name}", "entry", [name])
