"""Opening an RDS SQLite file, which is untrusted input like any other list: its views are SQL that SQLite runs
for us.

The connection is read-only with `trusted_schema` off and tight `SQLITE_LIMIT_*`s (a value of at most 32 MiB, no
attached databases, shallow expressions); its SQLite steps are budgeted in proportion to the file's size (a
recursive view that never ends, or a cross join, is stopped with a FormatError saying so); no relation may yield
more rows than the file could hold at `_MIN_ROW_BYTES` a row; and values are cut in SQL to just over their limit
(`guarded`: hashes their hex length, names `MAX_RDS_NAME_CHARS`) before Python holds them, so an over-long one is
named by row and column.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from hashwarden.config import MAX_SQLITE_VALUE_BYTES, SQLITE_BASE_STEPS, SQLITE_STEPS_PER_BYTE
from hashwarden.errors import FormatError

SQLITE_MAGIC = b"SQLite format 3\x00"

# Limits on an RDS database (module docstring): the value length and the step budget are settings (config.py), the
# other SQLITE_LIMIT_*s only shut doors no RDS file needs.
_TICK = 10_000  # steps between two progress-handler calls
_MIN_ROW_BYTES = 64  # a FILE row holds 136 hex characters of hashes; a view cannot make more rows than 1 per 64 bytes
_SQLITE_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_SQLITE_VALUE_BYTES,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 1 << 20,
    sqlite3.SQLITE_LIMIT_COLUMN: 200,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 16,
    sqlite3.SQLITE_LIMIT_VDBE_OP: 100_000,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 16,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1000,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 100,
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 1,
}


class UntrustedConnection(sqlite3.Connection):
    """A connection to an RDS file with its step budget and row bound, both from the file's size."""

    path: str
    size: int
    budget: int
    max_rows: int
    steps: int = 0

    def tick(self) -> bool:
        """The progress handler: True (stop the statement) once the budget is spent."""
        self.steps += _TICK
        return self.steps > self.budget

    def check_rows(self, rows: int, source: str, path: str) -> None:
        """Raises FormatError when `source` has yielded more rows than the file could hold."""
        if rows > self.max_rows:
            raise FormatError(
                f"{source} produced more rows than a file of {self.size:,} bytes can hold ({self.max_rows:,} at "
                f"{_MIN_ROW_BYTES} bytes a row): a view that multiplies rows (a cross join) or never ends",
                self.path, rows, field=source,
            )


def read_error(con: UntrustedConnection, exc: sqlite3.Error, path: str, source: str | None,
               row: int | None = None) -> FormatError:
    """The FormatError for an SQLite error while reading: the budget, a value over the length limit, or SQLite's."""
    what = source or "the database"
    if con.steps > con.budget:
        return FormatError(
            f"reading {what} did not finish within {con.budget:,} SQLite steps, the budget for a file of "
            f"{con.size:,} bytes: a view that never ends (a recursive query) or multiplies rows (a cross join)",
            path, row, field=source,
        )
    if "too big" in str(exc):
        return FormatError(f"{what} holds a value over {MAX_SQLITE_VALUE_BYTES >> 20} MiB (SQLite stopped at its "
                           "length limit); no NSRL field comes near that", path, row, field=source)
    after = f" after row {row} of {source}" if row else ""
    return FormatError(f"SQLite error{after}: {exc}", path, row)


def guarded(column: str, limit: int) -> str:
    """`column` as selected: a value longer than `limit` (as text) cut to `limit + 1`, so Python never holds a huge
    one and the checks still see it is too long. Integers and NULL pass as they are."""
    return f'CASE WHEN length({column}) > {limit} THEN substr({column}, 1, {limit + 1}) ELSE {column} END'


def open_readonly(path: str, head: bytes) -> UntrustedConnection:
    """Open read-only; `immutable` (no locks, no journal look-ups: fastest) only when it cannot hide data.

    `immutable=1` makes SQLite ignore a write-ahead log and a hot journal, so it is used only for a rollback-journal
    database (header bytes 18-19 = 1) with no `-wal` or `-journal` beside it: a published RDS file. `trusted_schema`
    off stops a crafted view from calling functions with side effects.
    """
    wal = len(head) >= 20 and (head[18] == 2 or head[19] == 2)
    sidecar = any(os.path.exists(path + suffix) for suffix in ("-wal", "-journal"))
    uri = Path(path).resolve().as_uri() + ("?mode=ro" if wal or sidecar else "?mode=ro&immutable=1")
    try:
        # check_same_thread off: the import may run in a worker thread
        con = sqlite3.connect(uri, uri=True, check_same_thread=False, factory=UntrustedConnection)
        con.path = path
        con.size = os.path.getsize(path) + sum(os.path.getsize(path + s) for s in ("-wal",) if os.path.exists(path + s))
        con.budget = SQLITE_BASE_STEPS + SQLITE_STEPS_PER_BYTE * con.size
        con.max_rows = con.size // _MIN_ROW_BYTES + 1000
        for limit, value in _SQLITE_LIMITS.items():
            con.setlimit(limit, value)
        con.set_progress_handler(con.tick, _TICK)
        con.execute("PRAGMA query_only = ON")
        con.execute("PRAGMA trusted_schema = OFF")
        # Memory-mapped reads were ~2x faster on a scan, but mapped pages count as resident memory: a 256 MiB window
        # keeps a 1 GB+ RDS import within its memory budget.
        con.execute("PRAGMA mmap_size = 268435456")
        con.execute("PRAGMA cache_size = -65536")  # 64 MB
    except sqlite3.Error as exc:
        raise FormatError(f"cannot open as SQLite: {exc}", path) from exc
    return con
