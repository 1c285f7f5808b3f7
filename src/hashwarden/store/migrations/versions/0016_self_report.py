"""Self-reports: hashes a young person computed of their own picture in the browser and sent (issue 20).

Revision ID: 0016
Revises: 0015

One row per report: the file's md5 and sha256, the PDQ hash and quality of an image, the vPDQ frames of a video
(JSON: `[{frame, quality, pdq, timestamp}]`), what the page said it is (`media_type`), the reporter's optional flags
(age band at the time, whether it is being shared), when it arrived (to the minute), the reference code the reporter
was given, and its review: `status` (received, confirmed, rejected), who reviewed it and when, and the analyst's
confirmation vote (`vote_id`). No column for imagery and none for an address: the client's address lives only in the
rate limiter's memory. `proof` is the SHA-256 of the proof-of-work challenge the report spent, unique, so one
challenge buys one report in every process sharing the store.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "self_report",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False, unique=True),
        sa.Column("md5", sa.LargeBinary(16), nullable=False),
        sa.Column("sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("pdq", sa.LargeBinary(32)),
        sa.Column("pdq_quality", sa.SmallInteger),
        sa.Column("vpdq", sa.Text),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.Column("being_shared", sa.String(16), nullable=False),
        sa.Column("proof", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reviewed_by", sa.String(200)),
        sa.Column("reviewed_at", sa.String(32)),
        sa.Column("vote_id", sa.Integer, sa.ForeignKey("vote.id")),
    )
    op.create_index("ix_self_report_status", "self_report", ["status", "id"])
    op.create_index("ix_self_report_sha256", "self_report", ["sha256"])


def downgrade() -> None:
    op.drop_table("self_report")
