"""The audit row's host as its own field.

Revision ID: 0005
Revises: 0004

Rows used to record `user@host` as the actor; the actor is now the configured examiner's name and the machine
has its own column. Older rows keep NULL there and their hashes are computed as before (store/audit.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit", sa.Column("host", sa.String(255)))


def downgrade() -> None:
    op.drop_column("audit", "host")
