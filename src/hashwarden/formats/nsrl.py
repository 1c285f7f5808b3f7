"""NIST NSRL Reference Data Set: RDSv3 SQLite (minimal and full), RDSv3 delta scripts, RDSv2 `NSRLFile.txt`.

NSRL is the known-file filter: it is imported into an `ignorable` set. Three shapes exist in the field:

* **RDSv3 SQLite**, minimal or full. Both expose a `FILE` relation with `sha256, sha1, md5, file_name, file_size,
  package_id`: a table in *minimal* (plus `crc32`, and a `DISTINCT_HASH` view over the four hashes), a view over
  the normalised `METADATA`/`PACKAGE_OBJECT` tables in *full* (no `crc32`; the view upper-cases the hashes).
  `read` opens the database itself, read-only, from `path` (SQLite cannot read from a Python file object), and
  streams `FILE` (or `DISTINCT_HASH` with `distinct=True`, or when there is no `FILE`).
* **RDSv3 delta**: a quarterly `.sql` script of `INSERT`/`UPDATE`/`DELETE` statements meant to be run against the
  previous database. `read_delta` turns it into `DeltaOp`s for the store to apply. It *parses* the statements with
  a small whitelist grammar; it never executes them, not even in a private in-memory SQLite, because
  (1) a `DELETE ... WHERE sha256 = '…'` run against an empty private copy deletes nothing, so the keys it targets
  would have to be parsed out anyway; (2) parsing admits only literal `VALUES` and `col = literal` conditions, so
  nothing in the file (`ATTACH`, `INSERT ... SELECT`, recursive queries, pragmas) can touch a file, our database
  or the CPU budget; (3) it streams a multi-GB script in constant memory. A statement outside that grammar is a
  `FormatError` naming its line, so a delta is never applied half-understood.
* **RDSv2 `NSRLFile.txt`**: quoted CSV, header-driven, with either NIST header (`"SHA-1","MD5","CRC32",
  "FileName",...` or the older `"SHA-1","FileName","FileSize","ProductCode","OpSystemCode","MD4","MD5",...`),
  and the `SHA-256` column some RDSv3-to-v2 converters add.

Each `FILE` row becomes one `EntryRecord` (the same file in two packages is two rows; the store de-duplicates):
hashes lowercase, `size`, and in `attributes` the `file_name`, `package_id` (RDSv2 `ProductCode` is the same id:
the RDSv3 `PKG` view is RDSv2's `NSRLProd.txt`), `crc32`, and for RDSv2 `operating_system_code`/`special_code`.
`line` is the row number in scan order (SQLite) or the line number (text).

An RDS database is untrusted input like any other list: its views are SQL that SQLite runs for us. The connection
is read-only with `trusted_schema` off and tight `SQLITE_LIMIT_*`s (a value of at most 32 MiB, no attached
databases, shallow expressions); its SQLite steps are budgeted in proportion to the file's size (a recursive view
that never ends, or a cross join, is stopped with a FormatError saying so); no relation may yield more rows than
the file could hold at `_MIN_ROW_BYTES` a row; and values are cut in SQL to just over their limit (hashes their
hex length, names `MAX_NAME_CHARS`) before Python holds them, so an over-long one is named by row and column.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, NamedTuple, NoReturn

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats._fields import hex_digest, parse_size
from hashwarden.formats._lines import decoded_lines
from hashwarden.store.audit import canonical_json
from hashwarden.store.batches import ColumnBatch, RowBatch, records_as_rows
from hashwarden.store.records import EntryRecord

SQLITE_MAGIC = b"SQLite format 3\x00"

# The RDSv3 minimal schema's tables and their column order (NIST `RDS_<ver>_<set>_minimal.schema.sql`): an
# INSERT without a column list fills these in order, and no other table or column may appear in a delta.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "FILE": ("sha256", "sha1", "md5", "crc32", "file_name", "file_size", "package_id"),
    "PKG": ("package_id", "name", "version", "operating_system_id", "manufacturer_id", "language",
            "application_type"),
    "OS": ("operating_system_id", "name", "version", "manufacturer_id"),
    "MFG": ("manufacturer_id", "name"),
    "VERSION": ("version", "build_set", "build_date", "release_date", "description"),
}
_FILE_REQUIRED = ("sha256", "sha1", "md5", "file_name", "file_size", "package_id")  # the full FILE view has no crc32
_HASH_COLUMNS = ("sha256", "sha1", "md5")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_MAX_STATEMENT = 16 << 20  # bytes; a longer "statement" is a missing ';', not an RDS row
_MAX_KEYS = 100_000  # keys one DELETE/UPDATE may expand to: IN lists multiply under AND

# Limits on an RDS database (module docstring). A legitimate read takes under 0.3 SQLite steps per byte of the file
# (minimal table in key order, full view); the budget gives 50x that plus a start for the schema and small files.
MAX_VALUE_BYTES = 32 << 20  # SQLITE_LIMIT_LENGTH: as VICS's record limit
MAX_NAME_CHARS = 4096  # a file name (NIST's longest are a few hundred characters)
_MAX_CHARS = {"sha256": 64, "sha1": 40, "md5": 32, "crc32": 64, "file_name": MAX_NAME_CHARS, "file_size": 20,
              "package_id": 20}
_STEPS_PER_BYTE = 16
_BASE_STEPS = 50_000_000
_TICK = 10_000  # steps between two progress-handler calls
_MIN_ROW_BYTES = 64  # a FILE row holds 136 hex characters of hashes; a view cannot make more rows than 1 per 64 bytes
_SQLITE_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_VALUE_BYTES,
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


def read(
    fp: BinaryIO, path: str, report: ReadReport | None = None, *, distinct: bool = False,
    encoding: str | None = None,
) -> Iterator[EntryRecord]:
    """Yield one record per NSRL file row, whichever of the three shapes `fp` holds (told apart by content).

    `distinct=True` reads RDSv3 `DISTINCT_HASH` instead of `FILE`: hashes only, about 6x fewer rows on the modern
    set (73.8 M distinct against 441.6 M rows), no names. A delta script read here yields its `FILE` inserts only
    and refuses one that deletes or updates `FILE` rows (use `read_delta`). `encoding` forces a text encoding;
    by default non-UTF-8 lines are read as Windows-1252 with a warning in `report` (see `decoded_lines`).

    Raises:
        FormatError: not NSRL (an SQLite without `FILE`/`DISTINCT_HASH`, an unknown text header), or a bad row:
            hash of the wrong length or not hex, truncated line, bad size; names file, line or row, and field.
    """
    head = fp.read(100)
    if head.startswith(SQLITE_MAGIC):
        yield from _read_sqlite(path, head, report, distinct)
        return
    first = head + fp.readline() if head and not head.endswith(b"\n") else head
    pieces = first.split(b"\n")  # as iterating fp does: split at \n only, never at a lone \r in a name
    lines = chain([piece + b"\n" for piece in pieces[:-1]], [pieces[-1]] if pieces[-1] else [], fp)
    kind = _text_kind(first)
    if kind == "rds2":
        yield from _read_rds2(lines, path, report, encoding)
    elif kind == "sql":
        yield from _records_of_delta(read_delta_lines(lines, path, report, encoding), path, report)
    elif head.startswith(b"PK\x03\x04"):
        raise FormatError("this is a ZIP archive: NIST ships the RDS zipped; extract the .db (or .sql, .txt) first",
                          path)
    else:
        shown = first.splitlines()[0][:80] if first.strip() else b"(empty file)"
        raise FormatError(
            "not an NSRL file: expected an RDSv3 SQLite database, an RDSv2 NSRLFile.txt header "
            f'("SHA-1","MD5",...) or an RDSv3 delta .sql script; the file starts with {shown!r}',
            path, 1,
        )


def is_delta_script(head: bytes) -> bool:
    """True when a file starting with `head` is an RDSv3 delta `.sql` script (apply it with `read_delta`)."""
    return not head.startswith(SQLITE_MAGIC) and _text_kind(head) == "sql"


def _text_kind(first: bytes) -> str | None:
    text = first.lstrip(b"\xef\xbb\xbf").lstrip().upper()
    if text.startswith(b'"SHA') or text.startswith(b"SHA-1,") or text.startswith(b'"MD5"'):
        return "rds2"
    if re.match(rb"(BEGIN|INSERT|DELETE|UPDATE|REPLACE|PRAGMA|COMMIT|END|--|/\*)", text):
        return "sql"
    return None


# --- RDSv3 SQLite -------------------------------------------------------------------------------------------


def _read_sqlite(path: str, head: bytes, report: ReadReport | None, distinct: bool) -> Iterator[EntryRecord]:
    if path == "-" or not os.path.isfile(path):
        raise FormatError("an RDSv3 SQLite database must be read from a file on disk, not a stream", path)
    con = _open_readonly(path, head)
    source = None
    try:
        relations = {
            name.upper(): name
            for name, in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        }
        source = None if distinct else relations.get("FILE")
        if source is None:
            source = relations.get("DISTINCT_HASH") or relations.get("FILE")
        if source is None:
            found = ", ".join(sorted(relations)) or "none"
            raise FormatError(
                f"not an NSRL RDSv3 database: it has no FILE table or view and no DISTINCT_HASH (tables: {found})",
                path,
            )
        columns = {row[1].lower() for row in con.execute(f'PRAGMA table_info("{source}")')}
        required = _HASH_COLUMNS if source.upper() == "DISTINCT_HASH" else _FILE_REQUIRED
        missing = [c for c in required if c not in columns]
        if missing:
            raise FormatError(
                f"not an NSRL RDSv3 database: {source} lacks column(s) {', '.join(missing)}", path, field=source
            )
        if report is not None:
            report.meta["nsrl"] = "rdsv3"
            report.meta["nsrl_relation"] = source.upper()
            report.meta.update(_version_meta(con, relations))
        yield from _stream_rows(con, source, columns, required is _HASH_COLUMNS, path)
    except sqlite3.DatabaseError as exc:
        raise _failure(con, exc, path, source) from exc
    finally:
        con.close()


class _Untrusted(sqlite3.Connection):
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


def _failure(con: _Untrusted, exc: sqlite3.Error, path: str, source: str | None, row: int | None = None) -> FormatError:
    """The FormatError for an SQLite error while reading: the budget, a value over the length limit, or SQLite's."""
    what = source or "the database"
    if con.steps > con.budget:
        return FormatError(
            f"reading {what} did not finish within {con.budget:,} SQLite steps, the budget for a file of "
            f"{con.size:,} bytes: a view that never ends (a recursive query) or multiplies rows (a cross join)",
            path, row, field=source,
        )
    if "too big" in str(exc):
        return FormatError(f"{what} holds a value over {MAX_VALUE_BYTES >> 20} MiB (SQLite stopped at its length "
                           "limit); no NSRL field comes near that", path, row, field=source)
    after = f" after row {row} of {source}" if row else ""
    return FormatError(f"SQLite error{after}: {exc}", path, row)


def _guarded(column: str, limit: int) -> str:
    """`column` as selected: a value longer than `limit` (as text) cut to `limit + 1`, so Python never holds a huge
    one and the checks still see it is too long. Integers and NULL pass as they are."""
    return f'CASE WHEN length({column}) > {limit} THEN substr({column}, 1, {limit + 1}) ELSE {column} END'


def _file_columns(crc: str) -> str:
    """The seven FILE columns, guarded; `crc` is "crc32" or "NULL" (the full view has none)."""
    return ", ".join(_guarded(c if c != "crc32" else crc, _MAX_CHARS[c]) if (c != "crc32" or crc != "NULL")
                     else "NULL" for c in TABLE_COLUMNS["FILE"])


def _open_readonly(path: str, head: bytes) -> _Untrusted:
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
        con = sqlite3.connect(uri, uri=True, check_same_thread=False, factory=_Untrusted)
        con.path = path
        con.size = os.path.getsize(path) + sum(os.path.getsize(path + s) for s in ("-wal",) if os.path.exists(path + s))
        con.budget = _BASE_STEPS + _STEPS_PER_BYTE * con.size
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


def _version_meta(con: _Untrusted, relations: dict[str, str]) -> dict[str, Any]:
    """The `VERSION` rows (release, build set, dates): recorded with the import so the set says which RDS it is."""
    if "VERSION" not in relations:
        return {}
    try:
        names = [row[1] for row in con.execute(f'PRAGMA table_info("{relations["VERSION"]}")')]
        quoted = ['"' + name.replace('"', '""') + '"' for name in names]
        cursor = con.execute(f'SELECT {", ".join(_guarded(q, MAX_NAME_CHARS) for q in quoted) or "*"} '
                             f'FROM "{relations["VERSION"]}" LIMIT 50')
        rows = [dict(zip(names, row)) for row in cursor]
    except sqlite3.Error:
        return {}
    for number, row in enumerate(rows, start=1):
        for name, value in row.items():
            if isinstance(value, bytes) or (isinstance(value, str) and len(value) > MAX_NAME_CHARS):
                raise FormatError(f"row {number} of VERSION: {name} is bytes or longer than {MAX_NAME_CHARS} "
                                  "characters, which no release description is", con.path, number, field=name)
    return {"rds_version": rows}


def _stream_rows(
    con: _Untrusted, source: str, columns: set[str], hashes_only: bool, path: str
) -> Iterator[EntryRecord]:
    """Records from `source`, checked in Python: SQLite's GLOB and lower() cost more per row than one
    `bytes.fromhex` over the three hashes joined (a hex string of 136 characters decodes to 68 bytes only if
    every part is hex of the right length) and one lower() of the join."""
    selected = ", ".join([
        *(_guarded(c, _MAX_CHARS[c]) for c in _HASH_COLUMNS),
        _guarded("crc32", _MAX_CHARS["crc32"]) if "crc32" in columns else "NULL",
        *(("NULL", "NULL", "NULL") if hashes_only else
          (_guarded(c, _MAX_CHARS[c]) for c in ("file_name", "file_size", "package_id"))),
    ])
    fromhex = bytes.fromhex
    number = 0
    try:
        for number, (sha256, sha1, md5, crc32, name, size, package) in enumerate(
            con.execute(f'SELECT {selected} FROM "{source}"'), start=1
        ):
            try:
                joined = sha256 + sha1 + md5
                if (len(joined) != 136 or len(fromhex(joined)) != 68 or not (size is None or size.__class__ is int)
                        or (name is not None and (name.__class__ is not str or len(name) > MAX_NAME_CHARS))
                        or crc32.__class__ is bytes or package.__class__ is bytes):
                    raise ValueError
            except (TypeError, ValueError):  # None, empty, short, long, non-hex or a blob: the slow, exact path
                sha256, sha1, md5 = _checked_row(sha256, sha1, md5, size, source, number, path, crc32, name, package)
            else:
                joined = joined.lower()
                sha256, sha1, md5 = joined[:64], joined[64:104], joined[104:]
            if number > con.max_rows:
                con.check_rows(number, source, path)
            yield _file_record(sha256, sha1, md5, crc32, name, size, package, number)
    except sqlite3.DatabaseError as exc:
        raise _failure(con, exc, path, source, number) from exc


def read_rows(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[RowBatch | ColumnBatch]:
    """An RDSv3 SQLite's FILE rows as ready `entry` rows: the path a full NSRL release takes (tens of millions).

    Same checks and the same stored values as `read` (the attributes JSON is written as `store.bulk` writes a
    record's), without building a record per row. Only for RDSv3 SQLite; other NSRL shapes go through `read`.
    """
    head = fp.read(100)
    if not head.startswith(SQLITE_MAGIC):
        raise FormatError("read_rows takes an RDSv3 SQLite database; use read for text and deltas", path)
    con = _open_readonly(path, head)
    source = None
    try:
        relations = {name.upper(): name
                     for name, in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        source = relations.get("FILE")
        columns = {row[1].lower() for row in con.execute(f'PRAGMA table_info("{source}")')} if source else set()
        if source is None or any(c not in columns for c in _FILE_REQUIRED):
            con.close()
            yield from records_as_rows(_read_sqlite(path, head, report, False))  # the exact error, or DISTINCT_HASH
            return
        if report is not None:
            report.meta.update({"nsrl": "rdsv3", "nsrl_relation": "FILE", **_version_meta(con, relations)})
        crc = "crc32" if "crc32" in columns else "NULL"
        select = f'SELECT {_file_columns(crc)} FROM "{source}"'
        number = 0
        is_table = con.execute("SELECT type FROM sqlite_master WHERE name = ?", (source,)).fetchone()[0] == "table"
        key = _sha256_key(con, source, crc) if is_table else None
        if key is not None:
            yield from _batches_by_sha256(con, source, crc, *key, path)
        elif is_table:
            # A table without that index: SQLite assembles each batch's columns itself, in rowid order.
            aggregate = _AGGREGATE.format(crc=crc, source=source, batch=_BATCH)
            last = 0
            while True:
                count, top, *columns_text = con.execute(aggregate, (last,)).fetchone()
                if not count:
                    break
                batch = _aggregated_batch(count, *columns_text, first=number)
                if batch is None:  # something in it needs the row-by-row checks
                    rows = con.execute(f"{select} WHERE rowid > ? ORDER BY rowid LIMIT {_BATCH}", (last,)).fetchall()
                    batch = _row_batch(rows, number, source, path)
                yield batch
                number, last = number + count, top
                con.check_rows(number, source, path)
        else:  # a view (the full release): rows fetched and turned into columns in Python
            cursor = con.execute(select)
            while rows := cursor.fetchmany(_BATCH):
                yield _column_batch(rows, number) or _row_batch(rows, number, source, path)
                number += len(rows)
                con.check_rows(number, source, path)
    except sqlite3.DatabaseError as exc:
        raise _failure(con, exc, path, source) from exc
    finally:
        con.close()


_BATCH = 50_000
_VALUE_COLUMNS = ("size", "attributes")
# One batch of a FILE table in one row: how many, the last rowid, the three hash columns concatenated, the values
# as the JSON array `ColumnBatch` takes ([size, attributes] per row: keys in sorted order, as `read` stores them;
# json_patch into {} drops null members, only needed when a row has one: it parses again, ~2 s per 5M rows), and
# how many rows the fast path cannot take as they are.
# A blob, which JSON cannot hold, is left out rather than failing the whole batch: the row counts as odd, and the
# row-by-row path names it.
_ATTRIBUTES = """CASE WHEN {crc} <> '' AND file_name IS NOT NULL AND package_id IS NOT NULL
        AND typeof({crc}) != 'blob' AND typeof(file_name) != 'blob' AND typeof(package_id) != 'blob'
        THEN json_object('crc32', {crc}, 'file_name', file_name, 'package_id', package_id)
        ELSE json_patch('{{}}', json_object('crc32', iif(typeof({crc}) = 'blob', NULL, nullif({crc}, '')),
            'file_name', iif(typeof(file_name) = 'blob', NULL, file_name),
            'package_id', iif(typeof(package_id) = 'blob', NULL, package_id)))
        END"""
_BATCH_OF = """SELECT count(*), max(rowid), group_concat(sha256, ''), group_concat(sha1, ''), group_concat(md5, ''),
    json_group_array(json_array(file_size, %(attributes)s%(line)s)),
    total(typeof(file_size) NOT IN ('integer', 'null') OR typeof(sha256) != 'text' OR typeof(sha1) != 'text'
          OR typeof(md5) != 'text' OR length(file_name) > %(name)d OR length({crc}) > %(crc)d
          OR typeof(file_name) = 'blob' OR typeof({crc}) = 'blob' OR typeof(package_id) = 'blob')
    FROM (SELECT rowid, * FROM "{source}" %(rows)s)"""
_CHECKED = {"name": MAX_NAME_CHARS, "crc": _MAX_CHARS["crc32"]}
_AGGREGATE = _BATCH_OF % {"attributes": _ATTRIBUTES, "line": "", "rows": "WHERE rowid > ? ORDER BY rowid LIMIT {batch}",
                          **_CHECKED}
# The same for a key range read in index order, each row's rowid (its line) as a third value.
_BY_SHA256 = _BATCH_OF % {"attributes": _ATTRIBUTES, "line": ", rowid", "rows": "{where} ORDER BY {order}", **_CHECKED}


def _aggregated_batch(count: int, sha256: str | None, sha1: str | None, md5: str | None, values: str, odd: float,
                      first: int | None, ordered_by: str | None = None) -> ColumnBatch | None:
    """A batch `_AGGREGATE` assembled, or None when a row needs the row-by-row checks (a NULL or malformed hash,
    a size that is not an integer: a NULL hash is left out by group_concat, so the lengths tell). With `first`
    None the values carry each row's line (`_BY_SHA256`)."""
    if odd:
        return None
    digests = _hex_columns(count, sha256, sha1, md5)
    if digests is None:
        return None
    columns = _VALUE_COLUMNS if first is not None else (*_VALUE_COLUMNS, "line")
    return ColumnBatch(count, digests, columns, values, first, ordered_by)


def _sha256_key(con: sqlite3.Connection, source: str, crc: str) -> tuple[tuple[str, ...], int] | None:
    """The columns of a unique index of FILE that leads with sha256 and holds every column read (NIST's
    minimal schema has one: its primary key over all seven columns), and the row count, when the table's
    rowids are 1..N and the key's columns are declared NOT NULL (a NULL falls outside every key range).

    Read in that index's order, the rows come sorted by sha256 straight from the index (no table look-ups), so
    the loader appends to the sha256 index instead of rebuilding it. With rowids 1..N a row's rowid is its number
    in file order, so the stored `line` is what reading in rowid order gives.
    """
    wanted = {"sha256", "sha1", "md5", "file_name", "file_size", "package_id", *(("crc32",) if crc != "NULL" else ())}
    not_null = {name.lower() for _, name, _, notnull, _, _ in con.execute(f'PRAGMA table_info("{source}")') if notnull}
    for _, name, unique, _, partial in con.execute(f'PRAGMA index_list("{source}")'):
        if not unique or partial:
            continue
        info = con.execute(f'PRAGMA index_xinfo("{name.replace(chr(34), chr(34) * 2)}")').fetchall()
        keys = [(column, desc, collation) for _, cid, column, desc, collation, is_key in info if is_key]
        columns = tuple(column.lower() for column, _, _ in keys if column is not None)
        if (len(columns) == len(keys) and columns and columns[0] == "sha256" and wanted <= set(columns) <= not_null
                and all(not desc and collation.upper() == "BINARY" for _, desc, collation in keys)):
            break
    else:
        return None
    low, high, count = con.execute(f'SELECT min(rowid), max(rowid), count(*) FROM "{source}"').fetchone()
    return (columns, count) if count and (low, high) == (1, count) else None


def _batches_by_sha256(
    con: _Untrusted, source: str, crc: str, key: tuple[str, ...], total: int, path: str
) -> Iterator[RowBatch | ColumnBatch]:
    """FILE's rows in the order of the unique index `key` (see `_sha256_key`), batch by batch: each batch is the
    key range up to the `_BATCH`-th next key (found in the index alone), assembled by SQLite as `_AGGREGATE` does,
    with each row's rowid as its line. A row with NULL in a key column would fall between the ranges, so the
    rows read are counted against the table's and a difference is an error, not a silent loss."""
    columns = ", ".join(f'"{c}"' for c in key)
    marks = ", ".join("?" * len(key))
    read, last = 0, None
    while True:
        after = () if last is None else (f"({columns}) > ({marks})",)
        bound = con.execute(f'SELECT {columns} FROM "{source}" {_where(after)} ORDER BY {columns} '
                            f'LIMIT 1 OFFSET {_BATCH - 1}', last or ()).fetchone()
        where = _where((*after, *(() if bound is None else (f"({columns}) <= ({marks})",))))
        params = (*(last or ()), *(bound or ()))
        count, _, *texts = con.execute(_BY_SHA256.format(crc=crc, source=source, where=where, order=columns),
                                       params).fetchone()
        if count:
            batch = _aggregated_batch(count, *texts, first=None, ordered_by="sha256")
            if batch is None:  # something in it needs the row-by-row checks
                rows = con.execute(f'SELECT {_file_columns(crc)}, rowid '
                                   f'FROM "{source}" {where} ORDER BY {columns}', params).fetchall()
                batch = _row_batch(rows, None, source, path, ordered_by="sha256")
            yield batch
            read += count
            con.check_rows(read, source, path)
        if bound is None:
            break
        last = bound
    if read != total:
        raise FormatError(f"{source}: {total - read:,} of {total:,} rows have NULL in a column of its primary key",
                          path, field=source)


def _where(conditions: tuple[str, ...]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _hex_columns(count: int, *texts: str | None) -> dict[str, tuple[int, bytes]] | None:
    """The sha256, sha1 and md5 columns (each one string of `count` hex values) as bytes, or None unless every
    value is exactly hex of its length. The length check also catches whitespace, which bytes.fromhex skips."""
    digests = {}
    for column, text, width in zip(("sha256", "sha1", "md5"), texts, (32, 20, 16)):
        if text is None or len(text) != 2 * width * count:
            return None
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            return None
        if len(raw) != width * count:
            return None
        digests[column] = (width, raw)
    return digests


def _row_batch(rows: list[tuple], first: int | None, source: str, path: str,
               ordered_by: str | None = None) -> RowBatch:
    """FILE rows one by one, with the exact error (row, column) for a bad one. With `first` None each row ends
    with its line (its rowid)."""
    out = []
    number = first
    for sha256, sha1, md5, crc32, name, size, package, *line in rows:
        number = line[0] if first is None else number + 1
        try:
            raw = bytes.fromhex(sha256 + sha1 + md5)
            if (len(raw) != 68 or not (size is None or size.__class__ is int)
                    or (name is not None and (name.__class__ is not str or len(name) > MAX_NAME_CHARS))
                    or crc32.__class__ is bytes or package.__class__ is bytes):
                raise ValueError
            digests = raw[:32], raw[32:52], raw[52:]
        except (TypeError, ValueError):
            checked = _checked_row(sha256, sha1, md5, size, source, number, path, crc32, name, package)
            digests = tuple(bytes.fromhex(v) if v else None for v in checked)
        attributes = {k: v for k, v in (("file_name", name), ("package_id", package), ("crc32", crc32 or None))
                      if v is not None}
        out.append((*digests, size, canonical_json(attributes) if attributes else None, number))
    return RowBatch(("sha256", "sha1", "md5", "size", "attributes", "line"), out, ordered_by)


def _column_batch(rows: list[tuple], first: int) -> ColumnBatch | None:
    """FILE rows (sha256, sha1, md5, crc32, file_name, file_size, package_id) as whole columns, or None when any
    row needs the row-by-row checks (a missing or malformed hash, a size that is not an integer): those give the
    exact error or the exact stored value. The three digest columns become one hex string each, checked and
    converted at once; attributes are assembled by the loader from their columns."""
    count = len(rows)
    sha256, sha1, md5, crc32, names, sizes, packages = zip(*rows)
    try:
        digests = _hex_columns(count, "".join(sha256), "".join(sha1), "".join(md5))
    except TypeError:  # a NULL or non-text hash
        return None
    if digests is None or any(size is not None and size.__class__ is not int for size in sizes):
        return None
    if any(n is not None and (n.__class__ is not str or len(n) > MAX_NAME_CHARS) for n in names) or any(
            v.__class__ is bytes for v in chain(crc32, packages)):
        return None
    attributes = [{k: v for k, v in (("crc32", c or None), ("file_name", n), ("package_id", p)) if v is not None}
                  for c, n, p in zip(crc32, names, packages)]
    values = json.dumps(list(zip(sizes, attributes)), ensure_ascii=False)
    return ColumnBatch(count, digests, _VALUE_COLUMNS, values, first)


def _checked_row(
    sha256: Any, sha1: Any, md5: Any, size: Any, source: str, number: int, path: str,
    crc32: Any = None, file_name: Any = None, package_id: Any = None,
) -> tuple[str | None, str | None, str | None]:
    """The hashes of a row the fast check refused: empty ones as None, or the precise FormatError (a value too
    long, of the wrong type, not hex, ...)."""
    where = f"row {number} of {source}"
    for name, value in (("crc32", crc32), ("file_name", file_name), ("package_id", package_id),
                        *zip(_HASH_COLUMNS, (sha256, sha1, md5))):
        if isinstance(value, bytes):
            raise FormatError(f"{where}: {name} is bytes, not text", path, number, field=name)
        if isinstance(value, str) and len(value) > _MAX_CHARS[name]:
            raise FormatError(f"{where}: {name} is longer than {_MAX_CHARS[name]} characters", path, number,
                              field=name)
    out = []
    for name, value in zip(_HASH_COLUMNS, (sha256, sha1, md5)):
        if value is not None and not isinstance(value, str):
            raise FormatError(f"{where}: {name} is {type(value).__name__}, not text", path, number, field=name)
        try:
            out.append(hex_digest(value or "", name, path, number, field=name))
        except FormatError as exc:
            raise FormatError(f"{where}: {exc.args[0]}", path, number, field=name) from None
    if size is not None and size.__class__ is not int:
        raise FormatError(f"{where}: file_size is {size!r}, not an integer", path, number, field="file_size")
    if not any(out):
        raise FormatError(f"{where}: no sha256, sha1 or md5", path, number)
    return out[0], out[1], out[2]


# --- RDSv2 NSRLFile.txt -------------------------------------------------------------------------------------

# header name, upper-cased → record field, or attribute key
_RDS2_FIELDS = {"SHA-1": "sha1", "SHA1": "sha1", "MD5": "md5", "SHA-256": "sha256", "SHA256": "sha256",
                "FILESIZE": "size"}
_RDS2_ATTRIBUTES = {"FILENAME": "file_name", "PRODUCTCODE": "package_id", "OPSYSTEMCODE": "operating_system_code",
                    "SPECIALCODE": "special_code", "CRC32": "crc32", "MD4": "md4"}


def _read_rds2(
    lines: Iterable[bytes], path: str, report: ReadReport | None, encoding: str | None
) -> Iterator[EntryRecord]:
    rows = csv.reader(text for _, text in decoded_lines(lines, path, report, encoding))
    header = next(rows, None)
    if not header:
        raise FormatError("an RDSv2 file starts with its header line", path, 1)
    names = [h.strip().upper() for h in header]
    index = {name: i for i, name in enumerate(names)}
    hashes = [(_RDS2_FIELDS[n], i, header[i]) for n, i in index.items() if _RDS2_FIELDS.get(n) in _HASH_COLUMNS]
    if not hashes:
        raise FormatError(f"not an NSRL RDSv2 file: the header has no SHA-1, MD5 or SHA-256 column: {header!r}",
                          path, 1)
    size_at = index.get("FILESIZE")
    product_at = index.get("PRODUCTCODE")
    special_at = index.get("SPECIALCODE")
    attributes_at = [
        (_RDS2_ATTRIBUTES.get(n) or header[i].strip(), i)
        for i, n in enumerate(names) if n not in _RDS2_FIELDS and i != product_at
    ]
    width = len(header)
    special_codes: Counter[str] = Counter()
    if report is not None:
        report.meta["nsrl"] = "rdsv2"
    for row in rows:
        number = rows.line_num
        if len(row) != width:
            if not row or row == [""]:
                continue
            raise FormatError(
                f"{len(row)} fields where the header has {width} (truncated line, or a name with an unquoted "
                f"quote or comma?)", path, number, field=header[len(row)] if len(row) < width else None,
            )
        values = {name: hex_digest(row[i], name, path, number, field=label) for name, i, label in hashes}
        if not any(values.values()):
            raise FormatError("row has no SHA-1, MD5 or SHA-256 value", path, number)
        attributes = {key: row[i] for key, i in attributes_at if row[i]}
        if product_at is not None and row[product_at]:
            product = row[product_at]
            attributes["package_id"] = int(product) if product.isdigit() else product
        if special_at is not None and row[special_at]:
            special_codes[row[special_at]] += 1
        size = parse_size(row[size_at], path, number, header[size_at]) if size_at is not None else None
        yield EntryRecord(**values, size=size, attributes=attributes, line=number)
    if report is not None and special_codes:
        report.meta["special_codes"] = dict(special_codes)  # M = malicious, S = special (NIST)


# --- RDSv3 delta scripts ------------------------------------------------------------------------------------


class DeltaOp(NamedTuple):
    """One change an RDSv3 delta makes, for the store to apply in file order.

    * `("insert", FILE)`: `record` is the new entry, exactly as `read` would build it from that row.
    * `("insert", other table)`: `values` holds the new PKG/OS/MFG/VERSION row by column name.
    * `("delete", table)`: remove the rows matching every `key` item (column -> value).
    * `("update", table)`: set `values` on the rows matching `key`.

    For `FILE`, `key` and `values` use the record's names: `sha256`/`sha1`/`md5` (lowercase hex), `size` (for
    `file_size`), and the attribute names `file_name`, `package_id`, `crc32`. An `IN (...)` condition becomes one
    op per listed value. A NamedTuple, not a frozen dataclass: a delta holds millions of ops and a frozen
    dataclass costs 5x more to build.
    """

    action: str
    table: str
    line: int
    record: EntryRecord | None = None
    key: Mapping[str, Any] = _EMPTY
    values: Mapping[str, Any] = _EMPTY


def read_delta(
    fp: BinaryIO, path: str, report: ReadReport | None = None, *, encoding: str | None = None
) -> Iterator[DeltaOp]:
    """Yield the changes of an RDSv3 delta `.sql` script, in file order, without executing any of it.

    Accepted: `INSERT [OR REPLACE|OR IGNORE] INTO t [(cols)] VALUES (...)[, (...)]`, `REPLACE INTO`,
    `DELETE FROM t WHERE c = v [AND ...]`, `UPDATE t SET c = v[, ...] WHERE ...` (conditions: `c = literal`,
    `c IN (literals)`, `AND`, parentheses) on the minimal tables FILE, PKG, OS, MFG, VERSION; transaction control,
    `PRAGMA`, `ANALYZE`, `VACUUM`, index DDL and comments are skipped.

    Raises:
        FormatError: any other statement (`INSERT ... SELECT`, `DELETE` without `WHERE`, `OR`, `ATTACH`, other
            tables), an unknown column, a bad hash, or a truncated last statement; names the line and field.
    """
    yield from read_delta_lines(fp, path, report, encoding)


def read_delta_lines(
    lines: Iterable[bytes], path: str, report: ReadReport | None = None, encoding: str | None = None
) -> Iterator[DeltaOp]:
    """`read_delta` over an iterable of byte lines (what `read` uses after sniffing the first line)."""
    counts: Counter[str] = Counter()
    for number, statement in _statements(decoded_lines(lines, path, report, encoding), path):
        record = _fast_file_insert(statement, number) if statement.startswith(_FAST_PREFIX) else None
        if record is not None:
            counts["insert FILE"] += 1
            yield DeltaOp("insert", "FILE", number, record=record)
            continue
        for op in _parse_statement(statement, number, path):
            counts[f"{op.action} {op.table}"] += 1
            yield op
    if report is not None:
        report.meta["nsrl"] = "rdsv3-delta"
        report.meta["delta_ops"] = dict(counts)


def _records_of_delta(ops: Iterator[DeltaOp], path: str, report: ReadReport | None) -> Iterator[EntryRecord]:
    for op in ops:
        if op.record is not None:
            yield op.record
        elif op.table == "FILE":
            raise FormatError(
                f"this RDSv3 delta {op.action}s FILE rows: it changes an existing NSRL set, so it must be applied "
                "as a delta to the set it updates (nsrl.read_delta), not imported as a list", path, op.line,
            )
        elif op.table == "VERSION" and op.action == "insert" and report is not None:
            report.meta.setdefault("rds_version", []).append(op.values)


def _statements(lines: Iterator[tuple[int, str]], path: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each SQL statement; `sqlite3.complete_statement` finds the ends (it knows
    quotes and comments), nothing is executed."""
    parts: list[str] = []
    start = 0
    size = 0
    for number, text in lines:
        if not parts:
            if not text.strip() or text.lstrip().startswith("--"):
                continue  # a statement's line is that of its first token
            start = number
        parts.append(text)
        size += len(text)
        if sqlite3.complete_statement(text if len(parts) == 1 else "".join(parts)):
            yield start, "".join(parts) if len(parts) > 1 else text
            parts.clear()
            size = 0
        elif size > _MAX_STATEMENT:
            raise FormatError(f"statement starting here runs past {_MAX_STATEMENT >> 20} MB without a ';'",
                              path, start)
    if parts and "".join(parts).strip():
        yield start, "".join(parts)  # the parser refuses it unless it is a whole statement missing only its ';'


_TOKEN = re.compile(
    r"""\s*(?:
        '([^']*(?:''[^']*)*)'                           # 1 string literal ('' is a quote)
      | ([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)  # 2 number
      | [xX]'([0-9A-Fa-f]*)'                            # 3 blob literal
      | ([A-Za-z_][A-Za-z0-9_$]*)                       # 4 keyword or bare identifier
      | "([^"]*(?:""[^"]*)*)"                           # 5 "identifier"
      | \[([^\]]*)\]                                    # 6 [identifier]
      | `([^`]*)`                                       # 7 `identifier`
      | ([(),;=*.])                                     # 8 punctuation
      | (--[^\n]*|/\*.*?\*/)                            # 9 comment
      | (\S)                                            # 10 anything else: refused
    )""",
    re.S | re.X,
)
# The statement that makes up nearly all of a delta, in NIST's own spelling, is split rather than tokenized
# (~20x faster than the general parser, ~3x faster than one regex). Anything that does not fit exactly, including
# this statement with a bad hash, goes through `_parse_statement`, which accepts it or says precisely why not.
_FAST_PREFIX = "INSERT INTO FILE(sha256,sha1,md5,crc32,file_name,file_size,package_id) VALUES"


def _fast_file_insert(statement: str, line: int) -> EntryRecord | None:
    body = statement[len(_FAST_PREFIX):].strip()
    if not (body.startswith("('") and body.endswith(");")):
        return None
    parts = body[2:-2].split("','", 4)  # sha256, sha1, md5, crc32, then "name',size,package"
    if len(parts) != 5:
        return None
    sha256, sha1, md5, crc32, rest = parts
    name, _, numbers = rest.rpartition("',")
    size, _, package = numbers.partition(",")
    joined = sha256 + sha1 + md5
    try:
        if len(joined) != 136 or len(bytes.fromhex(joined)) != 68:
            return None
    except ValueError:
        return None
    if ("'" in crc32 or "'" in name.replace("''", "") or not size.strip().isdigit() or not package.strip().isdigit()
            or len(name) > MAX_NAME_CHARS or len(crc32) > _MAX_CHARS["crc32"]):
        return None
    joined = joined.lower()
    return _file_record(joined[:64], joined[64:104], joined[104:], crc32, name.replace("''", "'"), int(size),
                        int(package), line)


_SKIPPED = {"BEGIN", "COMMIT", "END", "PRAGMA", "ANALYZE", "VACUUM", "REINDEX"}
_CONFLICT = ("REPLACE", "IGNORE", "ABORT", "FAIL", "ROLLBACK")


def _tokens(text: str, path: str, line: int) -> list[tuple[str, Any]]:
    """`(kind, value)` tokens, kind "lit" (value decoded), "word" (upper-cased), "ident" or "punct"; no comments."""
    tokens: list[tuple[str, Any]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastindex
        value = match.group(kind or 0)
        if kind == 1:
            tokens.append(("lit", value.replace("''", "'")))
        elif kind == 2:
            tokens.append(("lit", int(value) if value.lstrip("+-").isdigit() else float(value)))
        elif kind == 3:
            tokens.append(("lit", bytes.fromhex(value)))
        elif kind == 4:
            upper = value.upper()
            tokens.append(("lit", None) if upper == "NULL" else ("word", upper))
        elif kind in (5, 6, 7):
            tokens.append(("ident", value.replace('""', '"').upper()))
        elif kind == 8:
            tokens.append(("punct", value))
        elif kind == 10:
            raise FormatError(f"RDS delta: unexpected character {value!r} (an unterminated quote in a truncated "
                              "file, or SQL beyond what a delta uses)", path, line)
    return tokens


class _Statement:
    """One statement's tokens and a cursor, for the recursive-descent parser below."""

    def __init__(self, tokens: list[tuple[str, Any]], path: str, line: int) -> None:
        self.tokens, self.path, self.line, self.at = tokens, path, line, 0

    def fail(self, message: str, field: str | None = None) -> NoReturn:
        raise FormatError(f"RDS delta: {message}", self.path, self.line, field=field)

    def peek(self) -> tuple[str | None, Any]:
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self, what: str) -> tuple[str, Any]:
        if self.at >= len(self.tokens):
            self.fail(f"the statement ends where {what} was expected (truncated?)")
        self.at += 1
        return self.tokens[self.at - 1]

    def accept(self, *values: str) -> str | None:
        """Consume the next token if it is one of these keywords or punctuation marks."""
        kind, value = self.peek()
        if kind in ("word", "punct") and value in values:
            self.at += 1
            return value
        return None

    def expect(self, value: str) -> None:
        if self.accept(value) is None:
            if self.at >= len(self.tokens):
                self.fail(f"the statement ends where {value!r} was expected (truncated?)")
            self.fail(f"expected {value!r}, found {self._shown()}")

    def name(self, what: str) -> str:
        kind, value = self.take(what)
        if kind not in ("word", "ident"):
            self.fail(f"expected {what}, found {value!r}")
        return value

    def literal(self, column: str) -> Any:
        kind, value = self.take(f"a value for {column}")
        if kind != "lit":
            self.fail(f"only literal values are read from a delta, found {value!r}", column)
        if isinstance(value, bytes):  # no RDS column holds a blob
            self.fail(f"a blob literal (X'...') for {column}, which holds text or an integer", column)
        return value

    def end(self) -> None:
        if self.at < len(self.tokens):
            self.fail(f"unexpected {self._shown()} (a delta is read, not run: only literal VALUES and AND-ed "
                      "equalities are understood)")

    def _shown(self) -> str:
        kind, value = self.peek()
        return "the end of the statement" if kind is None else repr(value)


def _parse_statement(text: str, line: int, path: str) -> list[DeltaOp]:
    """The ops of the statement(s) in `text` (several may share a line; none for transaction control and such).

    Raises:
        FormatError: anything outside the grammar `read_delta` documents.
    """
    ops: list[DeltaOp] = []
    statement: list[tuple[str, Any]] = []
    for token in [*_tokens(text, path, line), ("punct", ";")]:
        if token != ("punct", ";"):
            statement.append(token)
        elif statement:
            ops.extend(_parse_one(_Statement(statement, path, line)))
            statement = []
    return ops


def _parse_one(st: _Statement) -> list[DeltaOp]:
    path, line = st.path, st.line
    kind, verb = st.take("a statement")
    if kind != "word":
        st.fail(f"a statement cannot start with {verb!r}")
    if verb in _SKIPPED:
        return []
    if verb in ("CREATE", "DROP"):
        st.accept("UNIQUE")
        if st.accept("INDEX"):
            return []
        st.fail(f"{verb} statements other than index DDL are not read from a delta")
    if verb in ("INSERT", "REPLACE"):
        if verb == "INSERT" and st.accept("OR") and st.accept(*_CONFLICT) is None:
            st.fail("INSERT OR must be followed by REPLACE, IGNORE, ABORT, FAIL or ROLLBACK")
        st.expect("INTO")
        table = _table(st)
        columns = TABLE_COLUMNS[table]
        if st.accept("("):
            columns = tuple(_column(st, table) for _ in _until(st, ")"))
        st.expect("VALUES")
        ops = []
        while True:
            st.expect("(")
            values = [st.literal(columns[i] if i < len(columns) else "?") for i in _until(st, ")")]
            if len(values) != len(columns):
                st.fail(f"{len(values)} values for {len(columns)} columns of {table}")
            ops.append(_insert(table, dict(zip(columns, values)), path, line))
            if st.accept(",") is None:
                break
        st.end()
        return ops
    if verb == "DELETE":
        st.expect("FROM")
        table = _table(st)
        if st.accept("WHERE") is None:
            st.fail(f"DELETE FROM {table} without WHERE would empty the table: refused")
        keys = _conditions(st, table)
        st.end()
        return [DeltaOp("delete", table, line, key=_normalised(table, k, path, line)) for k in keys]
    if verb == "UPDATE":
        if st.accept("OR") and st.accept(*_CONFLICT) is None:
            st.fail("UPDATE OR must be followed by REPLACE, IGNORE, ABORT, FAIL or ROLLBACK")
        table = _table(st)
        st.expect("SET")
        changes: dict[str, Any] = {}
        while True:
            column = _column(st, table)
            st.expect("=")
            changes[column] = st.literal(column)
            if st.accept(",") is None:
                break
        if st.accept("WHERE") is None:
            st.fail(f"UPDATE {table} without WHERE would rewrite the whole table: refused")
        keys = _conditions(st, table)
        st.end()
        values = _normalised(table, changes, path, line)
        return [DeltaOp("update", table, line, key=_normalised(table, k, path, line), values=values) for k in keys]
    st.fail(f"{verb} statements are not read from a delta (only INSERT ... VALUES, DELETE ... WHERE, UPDATE ... "
            "WHERE and transaction control)")


def _until(st: _Statement, close: str) -> Iterator[int]:
    """Indices of a comma-separated list, consuming the list up to and including `close`."""
    index = 0
    if st.accept(close):
        return
    while True:
        yield index
        index += 1
        if st.accept(close):
            return
        if st.peek()[0] is None:
            st.fail(f"the statement ends inside a list, before its {close!r} (truncated?)")
        st.expect(",")


def _table(st: _Statement) -> str:
    table = st.name("a table name")
    if table not in TABLE_COLUMNS:
        st.fail(f"table {table} is not one of the RDSv3 minimal tables ({', '.join(TABLE_COLUMNS)}); is this a "
                "delta for the full database? Use the minimal delta")
    return table


def _column(st: _Statement, table: str) -> str:
    column = st.name("a column name").lower()
    if column not in TABLE_COLUMNS[table]:
        st.fail(f"{table} has no column {column!r}", column)
    return column


def _conditions(st: _Statement, table: str) -> list[dict[str, Any]]:
    """`c = v [AND ...]`, `c IN (v, ...)`, parenthesised: the list of keys it matches (IN expands to several)."""
    keys: list[dict[str, Any]] = [{}]
    while True:
        if st.accept("("):
            inner = _conditions(st, table)
            st.expect(")")
            keys = [_merge(st, a, b) for a in keys for b in inner]
        else:
            column = _column(st, table)
            if st.accept("="):
                value = st.literal(column)
                keys = [_merge(st, k, {column: value}) for k in keys]
            elif st.accept("IN"):
                st.expect("(")
                choices = [st.literal(column) for _ in _until(st, ")")]
                keys = [_merge(st, k, {column: v}) for k in keys for v in choices]
            else:
                st.fail(f"only '{column} = value' and '{column} IN (...)' conditions are read, found {st._shown()}")
        if len(keys) > _MAX_KEYS:
            st.fail(f"a condition that expands to more than {_MAX_KEYS:,} keys (IN lists combined with AND)")
        if st.accept("AND") is None:
            return keys


def _merge(st: _Statement, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    for column in a.keys() & b.keys():
        if a[column] != b[column]:
            st.fail(f"two different values for {column} in one condition", column)
    return {**a, **b}


def _normalised(table: str, values: dict[str, Any], path: str, line: int) -> dict[str, Any]:
    """FILE columns under the record's names with hashes checked and lowercased; other tables as given."""
    if table != "FILE":
        return values
    out: dict[str, Any] = {}
    for column, value in values.items():
        if column in _HASH_COLUMNS:
            if value is not None and not isinstance(value, str):
                raise FormatError(f"RDS delta: {column} must be a text value, not {value!r}", path, line,
                                  field=column)
            out[column] = hex_digest(value or "", column, path, line)
        elif column == "file_size":
            out["size"] = value if isinstance(value, int) or value is None else parse_size(
                str(value), path, line, column)
        elif column in ("file_name", "crc32"):
            if value is not None and not isinstance(value, str):
                raise FormatError(f"RDS delta: {column} must be a text value, not {value!r}", path, line,
                                  field=column)
            if value is not None and len(value) > _MAX_CHARS[column]:
                raise FormatError(f"RDS delta: {column} is longer than {_MAX_CHARS[column]} characters", path,
                                  line, field=column)
            out[column] = value
        elif column == "package_id" and isinstance(value, float):
            raise FormatError(f"RDS delta: package_id must be an integer, not {value!r}", path, line, field=column)
        else:
            out[column] = value
    return out


def _insert(table: str, row: dict[str, Any], path: str, line: int) -> DeltaOp:
    if table != "FILE":
        return DeltaOp("insert", table, line, values=row)
    values = _normalised(table, row, path, line)
    if not any(values.get(c) for c in _HASH_COLUMNS):
        raise FormatError("RDS delta: a FILE row without sha256, sha1 or md5", path, line)
    return DeltaOp("insert", table, line, record=_file_record(
        values.get("sha256"), values.get("sha1"), values.get("md5"), values.get("crc32"), values.get("file_name"),
        values.get("size"), values.get("package_id"), line,
    ))


def _file_record(
    sha256: str | None, sha1: str | None, md5: str | None, crc32: str | None, file_name: str | None,
    size: int | None, package_id: Any, line: int,
) -> EntryRecord:
    """The record of one RDSv3 FILE row (already validated, hashes lowercase): one shape for tables and deltas."""
    attributes: dict[str, Any] = {}
    if file_name is not None:
        attributes["file_name"] = file_name
    if package_id is not None:
        attributes["package_id"] = package_id
    if crc32:
        attributes["crc32"] = crc32
    return EntryRecord(sha256=sha256, sha1=sha1, md5=md5, size=size, attributes=attributes, line=line)
