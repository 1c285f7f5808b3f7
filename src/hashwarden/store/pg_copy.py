"""Bulk loading on PostgreSQL with COPY: the fast path for importing field lists of many millions of rows.

An INSERT per row, even batched, costs a round trip and a statement's parse and plan per batch; COPY streams rows
in one statement at several times the rate. This goes under SQLAlchemy to psycopg 3's `Cursor.copy`, inside the
caller's transaction, so an import stays all or nothing. Rows are written as they come from the iterable: memory
stays constant whatever the list's size.

Text COPY, not binary: psycopg writes each value in text by its Python type and the server parses it by the
column's type, exactly as for an INSERT, so a value out of range or of the wrong kind is refused by the server
with the row and column named. Binary COPY was no faster here (the server is the bottleneck, 50-85k rows/s either
way on 2 cores) and is unsafe: psycopg's binary int4 dumper silently wraps 2**31 to -2**31, and an int bound for a
text column raises a bare TypeError.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import Connection

from hashwarden.errors import StoreError


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY `rows` (one value per column: None for NULL, bytes for bytea) into `table`; return how many.

    Runs in `conn`'s transaction (one is begun if none is open, as any `execute` would): nothing is visible to
    others until the caller commits, and a rollback undoes it all. An exception raised by `rows` itself (e.g. a
    FormatError from a reader) aborts the COPY and comes out unchanged.

    Raises:
        StoreError: not a psycopg 3 PostgreSQL connection, unknown table or column, or a row the server refuses
            (the message gives the server's reason and its row number within this COPY).
    """
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        raise StoreError(f"COPY needs PostgreSQL through psycopg 3, not {conn.dialect.name}+{conn.dialect.driver}")
    if not conn.in_transaction():
        conn.begin()
    driver = conn.connection.driver_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(*table.split(".")), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    except psycopg.Error as exc:
        where = f" ({exc.diag.context.strip()})" if exc.diag.context else ""
        raise StoreError(f"COPY into {table} failed: {exc.diag.message_primary or exc}{where}") from exc
    return count
