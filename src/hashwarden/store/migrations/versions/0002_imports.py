"""Imports of field hash lists: VICS identity and opaque fields, per-row provenance through an import record.

Revision ID: 0002
Revises: 0001

`import_run` records each import (file, its SHA-256, format, counts); an entry points at the import that first
brought it (`import_id`, `line` = record number in that file), so a re-import of the same list adds nothing and
keeps the first provenance. `media_id` is the VICS MediaID; `photodna` is kept as an opaque value (never computed
here); `attributes` holds, as JSON, every other field a list carried (VICS MediaFiles, Exifs, MediaMetadata, NSRL
product codes, ...) so an export writes back what was imported. On PostgreSQL `entry.id` becomes 64-bit, as
SQLite's rowid already is.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_run",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("hash_set.id", ondelete="CASCADE"), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32)),
        sa.Column("rows", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("added", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("details", sa.Text),
    )
    # Plain ADD COLUMN on both backends (no table rebuild of a possibly huge entry table). import_id carries no
    # foreign key: SQLite cannot add one without rebuilding the table, and import_run rows are never deleted.
    op.add_column("entry", sa.Column("media_id", sa.String(100)))
    op.add_column("entry", sa.Column("photodna", sa.Text))
    op.add_column("entry", sa.Column("attributes", sa.Text))
    op.add_column("entry", sa.Column("import_id", sa.Integer))
    op.add_column("entry", sa.Column("line", sa.BigInteger))
    if op.get_bind().dialect.name == "postgresql":
        # 0001 made entry.id a 32-bit SERIAL there (SQLite's rowid is 64-bit already): widen column and sequence.
        op.alter_column("entry", "id", type_=sa.BigInteger, existing_type=sa.Integer, existing_nullable=False)
        op.execute("ALTER SEQUENCE entry_id_seq AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE entry_id_seq AS integer")
        op.alter_column("entry", "id", type_=sa.Integer, existing_type=sa.BigInteger, existing_nullable=False)
    with op.batch_alter_table("entry") as batch:
        for column in ("line", "import_id", "attributes", "photodna", "media_id"):
            batch.drop_column(column)
    op.drop_table("import_run")
