"""RDSv3 SQLite `FILE` rows as ready `entry` rows in batches (`store.batches`): the path a full NSRL release takes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

from hashwarden.config import IMPORT_BATCH_ROWS, MAX_RDS_NAME_CHARS
from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats.nsrl.rds3 import FILE_REQUIRED, checked_row, read_records, version_meta
from hashwarden.formats.nsrl.rds3_schema import MAX_CHARS, TABLE_COLUMNS
from hashwarden.formats.nsrl.untrusted_sqlite import (
    SQLITE_MAGIC, UntrustedConnection, guarded, open_readonly, read_error,
)
from hashwarden.store.records import canonical_json
from hashwarden.store.batches import ColumnBatch, RowBatch, records_as_rows


def _file_columns(crc: str) -> str:
    """The seven FILE columns, guarded; `crc` is "crc32" or "NULL" (the full view has none)."""
    return ", ".join(guarded(c if c != "crc32" else crc, MAX_CHARS[c]) if (c != "crc32" or crc != "NULL")
                     else "NULL" for c in TABLE_COLUMNS["FILE"])


def read_rows(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[RowBatch | ColumnBatch]:
    """An RDSv3 SQLite's FILE rows as ready `entry` rows: the path a full NSRL release takes (tens of millions).

    Same checks and the same stored values as `nsrl.read` (the attributes JSON is written as `store.batches` writes a
    record's), without building a record per row. Only for RDSv3 SQLite; other NSRL shapes go through `nsrl.read`.
    """
    head = fp.read(100)
    if not head.startswith(SQLITE_MAGIC):
        raise FormatError("read_rows takes an RDSv3 SQLite database; use read for text and deltas", path)
    con = open_readonly(path, head)
    source = None
    try:
        relations = {name.upper(): name
                     for name, in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        source = relations.get("FILE")
        columns = {row[1].lower() for row in con.execute(f'PRAGMA table_info("{source}")')} if source else set()
        if source is None or any(c not in columns for c in FILE_REQUIRED):
            con.close()
            yield from records_as_rows(read_records(path, head, report, False))  # the exact error, or DISTINCT_HASH
            return
        if report is not None:
            report.meta.update({"nsrl": "rdsv3", "nsrl_relation": "FILE", **version_meta(con, relations)})
        crc = "crc32" if "crc32" in columns else "NULL"
        select = f'SELECT {_file_columns(crc)} FROM "{source}"'
        number = 0
        is_table = con.execute("SELECT type FROM sqlite_master WHERE name = ?", (source,)).fetchone()[0] == "table"
        key = _sha256_key(con, source, crc) if is_table else None
        if key is not None:
            yield from _batches_by_sha256(con, source, crc, *key, path)
        elif is_table:
            # A table without that index: SQLite assembles each batch's columns itself, in rowid order.
            aggregate = _AGGREGATE.format(crc=crc, source=source, batch=IMPORT_BATCH_ROWS)
            last = 0
            while True:
                count, top, *columns_text = con.execute(aggregate, (last,)).fetchone()
                if not count:
                    break
                batch = _aggregated_batch(count, *columns_text, first=number)
                if batch is None:  # something in it needs the row-by-row checks
                    rows = con.execute(f"{select} WHERE rowid > ? ORDER BY rowid LIMIT {IMPORT_BATCH_ROWS}",
                                       (last,)).fetchall()
                    batch = _row_batch(rows, number, source, path)
                yield batch
                number, last = number + count, top
                con.check_rows(number, source, path)
        else:  # a view (the full release): rows fetched and turned into columns in Python
            cursor = con.execute(select)
            while rows := cursor.fetchmany(IMPORT_BATCH_ROWS):
                yield _column_batch(rows, number) or _row_batch(rows, number, source, path)
                number += len(rows)
                con.check_rows(number, source, path)
    except sqlite3.DatabaseError as exc:
        raise read_error(con, exc, path, source) from exc
    finally:
        con.close()


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
_CHECKED = {"name": MAX_RDS_NAME_CHARS, "crc": MAX_CHARS["crc32"]}
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
    con: UntrustedConnection, source: str, crc: str, key: tuple[str, ...], total: int, path: str
) -> Iterator[RowBatch | ColumnBatch]:
    """FILE's rows in the order of the unique index `key` (see `_sha256_key`), batch by batch: each batch is the
    key range up to the `IMPORT_BATCH_ROWS`-th next key (found in the index alone), assembled by SQLite as
    `_AGGREGATE` does, with each row's rowid as its line. A row with NULL in a key column would fall between the ranges, so the
    rows read are counted against the table's and a difference is an error, not a silent loss."""
    columns = ", ".join(f'"{c}"' for c in key)
    marks = ", ".join("?" * len(key))
    read, last = 0, None
    while True:
        after = () if last is None else (f"({columns}) > ({marks})",)
        bound = con.execute(f'SELECT {columns} FROM "{source}" {_where(after)} ORDER BY {columns} '
                            f'LIMIT 1 OFFSET {IMPORT_BATCH_ROWS - 1}', last or ()).fetchone()
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
                    or (name is not None and (name.__class__ is not str or len(name) > MAX_RDS_NAME_CHARS))
                    or crc32.__class__ is bytes or package.__class__ is bytes):
                raise ValueError
            digests = raw[:32], raw[32:52], raw[52:]
        except (TypeError, ValueError):
            checked = checked_row(sha256, sha1, md5, size, source, number, path, crc32, name, package)
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
    if any(n is not None and (n.__class__ is not str or len(n) > MAX_RDS_NAME_CHARS) for n in names) or any(
            v.__class__ is bytes for v in chain(crc32, packages)):
        return None
    attributes = [{k: v for k, v in (("crc32", c or None), ("file_name", n), ("package_id", p)) if v is not None}
                  for c, n, p in zip(crc32, names, packages)]
    values = json.dumps(list(zip(sizes, attributes)), ensure_ascii=False)
    return ColumnBatch(count, digests, _VALUE_COLUMNS, values, first)
