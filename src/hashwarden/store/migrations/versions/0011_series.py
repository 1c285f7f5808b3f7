"""Series and victims: codes and flags only, and the links between them and media (issue 18).

Revision ID: 0011
Revises: 0010

`series` (a code, unique; a name, the agency that keeps it, notes) and `victim` (a code, unique; whether the
victim is identified, by which agency, on which date) hold no personal data: there is no column for a victim's
name, date of birth or any other particular, and none for imagery. `series_link` joins two of: a series, a victim,
a media item (named by its hashes and its identity key `media`, as votes name media: store/votes.py). Each kind of
link is unique (partial unique indexes), and each digest is indexed so that a match finds the links of its entry.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_DIGESTS = ("md5", "sha1", "sha256", "pdq")
# Each kind of link and the end it leaves NULL: (index name, its columns, the NULL end).
_KINDS = (("ux_series_link_media", ["series_id", "media"], "victim_id"),
          ("ux_series_link_victim", ["victim_id", "series_id"], "media"),
          ("ux_series_link_victim_media", ["victim_id", "media"], "series_id"))


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200)),
        sa.Column("agency", sa.String(200)),
        sa.Column("notes", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "victim",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("identified", sa.Boolean, nullable=False),
        sa.Column("agency", sa.String(200)),
        sa.Column("identified_on", sa.String(10)),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "series_link",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id")),
        sa.Column("victim_id", sa.Integer, sa.ForeignKey("victim.id")),
        sa.Column("media", sa.String(80)),
        sa.Column("md5", sa.LargeBinary(16)),
        sa.Column("sha1", sa.LargeBinary(20)),
        sa.Column("sha256", sa.LargeBinary(32)),
        sa.Column("pdq", sa.LargeBinary(32)),
        sa.Column("linked_at", sa.String(32), nullable=False),
        sa.CheckConstraint("(CASE WHEN series_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN victim_id IS NULL THEN 0 "
                           "ELSE 1 END) + (CASE WHEN media IS NULL THEN 0 ELSE 1 END) = 2",
                           name="ck_series_link_two_ends"),
    )
    for name, columns, empty in _KINDS:
        where = sa.text(f"{empty} IS NULL")
        op.create_index(name, "series_link", columns, unique=True, sqlite_where=where, postgresql_where=where)
    for digest in _DIGESTS:
        where = sa.text(f"{digest} IS NOT NULL")
        op.create_index(f"ix_series_link_{digest}", "series_link", [digest], sqlite_where=where,
                        postgresql_where=where)


def downgrade() -> None:
    op.drop_table("series_link")
    op.drop_table("victim")
    op.drop_table("series")
