"""Importing into a set that already has entries: rows go to a staging table first, and only those whose identity
the set does not hold are inserted, by an indexed anti-join, so a re-import writes nothing (rather than inserting
every row and deleting it again)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from hashwarden.store.schema import DIGEST_COLUMNS, entry

STAGING = "hw_import_staging"


def create_staging(conn: Connection) -> str:
    """A temporary table shaped like `entry` without its indexes (dropped at the end of the transaction)."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGING}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {STAGING} AS SELECT * FROM entry WHERE 1 = 0")
    return STAGING


def insert_new_from_staging(conn: Connection, set_id: int, staging: str, filled: set[str]) -> int:
    """Insert the staged rows whose identity the set does not hold yet; return how many it held already.

    One statement per "strongest digest" class, so every anti-join probes the index of a digest the row has
    (`e.sha1 = s.sha1` can use the partial index on sha1; a null-safe comparison alone could not); only the
    classes of digests the batches had (`filled`, their columns), so an MD5 list scans the staging table once.
    """
    same = "IS NOT DISTINCT FROM" if conn.dialect.name == "postgresql" else "IS"
    columns = [c.name for c in entry.columns if c.name != "id"]
    listed = ", ".join(columns)
    staged = conn.exec_driver_sql(f"SELECT count(*) FROM {staging}").scalar_one()
    inserted = 0
    for position, primary in enumerate(DIGEST_COLUMNS):
        if primary not in filled:
            continue
        stronger = DIGEST_COLUMNS[:position]
        others = [d for d in DIGEST_COLUMNS if d != primary]
        row_class = " AND ".join([f"s.{d} IS NULL" for d in stronger] + [f"s.{primary} IS NOT NULL"])
        same_identity = " AND ".join(f"e.{d} {same} s.{d}" for d in others)
        result = conn.execute(text(
            f"INSERT INTO entry ({listed}) SELECT {', '.join('s.' + c for c in columns)} FROM {staging} s "
            f"WHERE {row_class} AND NOT EXISTS (SELECT 1 FROM entry e WHERE e.{primary} = s.{primary} "
            f"AND e.set_id = :set_id AND {same_identity}) ORDER BY s.line"
        ), {"set_id": set_id})
        inserted += result.rowcount
    conn.exec_driver_sql(f"DROP TABLE {staging}")
    return staged - inserted
