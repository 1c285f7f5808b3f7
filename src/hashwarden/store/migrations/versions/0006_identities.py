"""Agencies and API users: who may use the service (issue 17).

Revision ID: 0006
Revises: 0005

An agency is a force, a hotline or a platform; an API user (a person or a system) belongs to one agency and has one
role. Only a salted hash of a user's key is stored; `key_id` is the key's short, non-secret prefix, unique, so that
authenticating a request is one indexed lookup followed by one hash comparison. Revoking keeps the row (the audit log
names the user) and sets `revoked_at`; rotating replaces the key in place.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "api_user",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("agency_id", sa.Integer, sa.ForeignKey("agency.id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("key_created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32)),
        sa.CheckConstraint("role IN ('matcher', 'examiner', 'analyst', 'admin')", name="ck_api_user_role"),
    )


def downgrade() -> None:
    op.drop_table("api_user")
    op.drop_table("agency")
