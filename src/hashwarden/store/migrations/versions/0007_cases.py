"""Cases submitted to the service: a scan's report.json under the submitting agency and user (issue 17).

Revision ID: 0007
Revises: 0006

`case_report` holds a report's header (case name, tool, sources, summary, skipped) as JSON and who sent it;
`case_item` one row per item, its digests and PDQ as raw bytes (as `entry` stores them) with an index on each
digest, so that the unknown items of every case can later be found by hash (victim identification links cases
through them). The rest of an item (path, status, matches, notes) is its JSON. No column holds imagery.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_report",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("agency_id", sa.Integer, sa.ForeignKey("agency.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("api_user.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("submitted_at", sa.String(32), nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("header", sa.Text, nullable=False),
    )
    op.create_index("ix_case_report_agency", "case_report", ["agency_id", "id"])
    op.create_table(
        "case_item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_report.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16)),
        sa.Column("md5", sa.LargeBinary(16)),
        sa.Column("sha1", sa.LargeBinary(20)),
        sa.Column("sha256", sa.LargeBinary(32)),
        sa.Column("pdq", sa.LargeBinary(32)),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_case_item_case", "case_item", ["case_id", "position"], unique=True)
    op.create_index("ix_case_item_md5", "case_item", ["md5"])
    op.create_index("ix_case_item_sha1", "case_item", ["sha1"])
    op.create_index("ix_case_item_sha256", "case_item", ["sha256"])


def downgrade() -> None:
    op.drop_table("case_item")
    op.drop_table("case_report")
