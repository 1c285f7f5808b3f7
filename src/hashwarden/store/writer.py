"""Appending batches of rows to `entry` (or the import's staging table) the fastest way each backend offers.

SQLite: a `ColumnBatch` as one `INSERT ... SELECT` over `json_each`, a `RowBatch` by `executemany`, the
per-import constants as literals in the statement so that a row binds only what varies. PostgreSQL: COPY
(`store.pg_copy`), which needs the constants in every row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from hashwarden.store.batches import ColumnBatch, RowBatch

_HAS_JSON_EACH = sqlite3.sqlite_version_info >= (3, 38)  # JSON functions built in from 3.38 on


def batch_writer(conn: Connection, table: str, constants: dict[str, Any]) -> Callable[[RowBatch | ColumnBatch], None]:
    """A function appending one batch to `table`, every row also given `constants` (set, import, timestamp)."""
    if conn.dialect.name == "postgresql":
        from hashwarden.store.pg_copy import copy_rows

        fixed = tuple(constants.values())
        return lambda batch: copy_rows(conn, table, [*constants, *batch.columns],
                                       (fixed + row for row in batch.rows))
    cursor = conn.connection.driver_connection.cursor()
    literals = ", ".join(str(v) if isinstance(v, int) else f"'{v}'" for v in constants.values())
    assert all(isinstance(v, int) or v.replace(":", "").replace("-", "").replace(".", "").isalnum()
               for v in constants.values())  # integers and an ISO timestamp: nothing to quote

    def write(batch: RowBatch | ColumnBatch) -> None:
        if isinstance(batch, ColumnBatch) and _HAS_JSON_EACH:
            cursor.execute(*_column_insert(batch, table, literals, tuple(constants)))
            return
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join((*constants, *batch.columns))}) "
            f"VALUES ({literals}, {', '.join('?' * len(batch.columns))})", batch.rows)

    return write


def _column_insert(batch: ColumnBatch, table: str, constants: str,
                   constant_columns: tuple[str, ...]) -> tuple[str, tuple]:
    """The SQLite statement and parameters inserting a column batch into `table`: each digest column cut from its
    concatenation by `substr`, the values read by `json_each`, every row in one statement."""
    select = [f"substr(?{n}, j.key * {width} + 1, {width})" for n, (width, _) in enumerate(batch.digests.values(), 1)]
    slot = len(batch.digests) + 1
    if len(batch.value_columns) == 1:
        select.append("nullif(j.value, '')")
    else:  # json_extract gives an object's (minified) JSON text
        select += [f"nullif(json_extract(j.value, '$[{i}]'), '{{}}')" for i in range(len(batch.value_columns))]
    if batch.first_line is not None:
        select.append(f"?{slot + 1} + j.key + 1")
    sql = (f"INSERT INTO {table} ({', '.join((*constant_columns, *batch.columns))}) "
           f"SELECT {constants}, {', '.join(select)} FROM json_each(?{slot}) AS j")
    lines = () if batch.first_line is None else (batch.first_line,)
    return sql, (*(blob for _, blob in batch.digests.values()), batch.values, *lines)
