"""Grading votes: what reviewers decided about a media item, one row per vote, the superseded ones kept (issue 18).

Revision ID: 0010
Revises: 0009

A vote names its media by hashes (md5, sha1, sha256, pdq as raw bytes, at least one) and by `media`, the media's
identity key (`sha256:<hex>`, see grading/votes.py for how it is chosen), so that "one current vote per reviewer
per media" is a unique index: on (media, agency, reviewer) over the rows not superseded. A new vote of the same
reviewer marks the old one `superseded_by` it, so the history stays. Each digest has a partial index: a vote
naming any one of a media's hashes finds the votes already cast on it. No column holds imagery; a vote may name
media that no set or case holds (votes come before sets).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_DIGESTS = ("md5", "sha1", "sha256", "pdq")


def upgrade() -> None:
    op.create_table(
        "vote",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("media", sa.String(80), nullable=False),
        sa.Column("md5", sa.LargeBinary(16)),
        sa.Column("sha1", sa.LargeBinary(20)),
        sa.Column("sha256", sa.LargeBinary(32)),
        sa.Column("pdq", sa.LargeBinary(32)),
        sa.Column("scheme", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("self_generated", sa.String(16), nullable=False),
        sa.Column("capture_device", sa.String(16), nullable=False),
        sa.Column("redistributed", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("voted_at", sa.String(32), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("superseded_by", sa.Integer, sa.ForeignKey("vote.id")),
        sa.Column("superseded_at", sa.String(32)),
    )
    current = sa.text("superseded_at IS NULL")
    op.create_index("ux_vote_current", "vote", ["media", "agency", "reviewer"], unique=True,
                    sqlite_where=current, postgresql_where=current)
    op.create_index("ix_vote_media", "vote", ["media"])
    for digest in _DIGESTS:
        where = sa.text(f"{digest} IS NOT NULL")
        op.create_index(f"ix_vote_{digest}", "vote", [digest], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_table("vote")
