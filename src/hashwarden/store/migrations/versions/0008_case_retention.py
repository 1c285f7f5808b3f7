"""Case retention per agency, and case items found by PDQ (issue 17).

Revision ID: 0008
Revises: 0007

`agency.retention_days`: how long the agency's submitted cases are kept (NULL: until the agency deletes them);
`store/cases.purge_expired` deletes older ones. An index on `case_item.pdq`, as 0007 made on each digest, so that
`GET /v1/cases/items?pdq=` finds an item without reading every case.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agency") as batch:
        batch.add_column(sa.Column("retention_days", sa.Integer, nullable=True))
    op.create_index("ix_case_item_pdq", "case_item", ["pdq"])


def downgrade() -> None:
    op.drop_index("ix_case_item_pdq", "case_item")
    with op.batch_alter_table("agency") as batch:
        batch.drop_column("retention_days")
