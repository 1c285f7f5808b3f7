"""What leads across cases search a case item by: its PDQ quality and its device (issue 18).

Revision ID: 0012
Revises: 0011

A lead across cases compares a new case's unknown items with the unknown items of every other case: by PDQ, for
which an item's quality must be read without parsing its JSON (codes below the matcher's floor are flat images,
near one another), and by the device that made it (a camera serial, or make + model + software). `pdq_quality`
is the item's own; `device` is `store.cases.device_digest` of its metadata's device key: a fixed-width digest, so
its index takes any serial a report carries. Existing items get both from their stored JSON.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    op.add_column("case_item", sa.Column("pdq_quality", sa.SmallInteger))
    op.add_column("case_item", sa.Column("device", sa.String(64)))
    where = sa.text("device IS NOT NULL")
    op.create_index("ix_case_item_device", "case_item", ["device"], sqlite_where=where, postgresql_where=where)
    _fill_existing(op.get_bind())


def _fill_existing(conn: sa.engine.Connection) -> None:
    """Both columns of the items stored before, from their JSON, a batch at a time by id."""
    from hashwarden.store.cases import lead_columns

    after = 0
    while rows := conn.execute(sa.text("SELECT id, details FROM case_item WHERE id > :after ORDER BY id LIMIT :n"),
                               {"after": after, "n": _BATCH}).all():
        updates = []
        for item_id, details in rows:
            columns = lead_columns(json.loads(details))
            if any(value is not None for value in columns.values()):
                updates.append({"id": item_id, **columns})
        if updates:
            conn.execute(sa.text("UPDATE case_item SET pdq_quality = :pdq_quality, device = :device WHERE id = :id"),
                         updates)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_case_item_device", table_name="case_item")
    op.execute("ALTER TABLE case_item DROP COLUMN device")
    op.execute("ALTER TABLE case_item DROP COLUMN pdq_quality")
