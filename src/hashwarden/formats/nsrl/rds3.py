"""RDSv3 SQLite, minimal or full, as records.

Both expose a `FILE` relation with `sha256, sha1, md5, file_name, file_size, package_id`: a table in *minimal*
(plus `crc32`, and a `DISTINCT_HASH` view over the four hashes), a view over the normalised `METADATA`/
`PACKAGE_OBJECT` tables in *full* (no `crc32`; the view upper-cases the hashes). The reader opens the database
itself, read-only, from `path` (SQLite cannot read from a Python file object; see `untrusted_sqlite`), and streams
`FILE` (or `DISTINCT_HASH` with `distinct=True`, or when there is no `FILE`). A full release takes `rds3_rows`
instead, which builds no record per row.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any

from hashwarden.config import MAX_RDS_NAME_CHARS
from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats._fields import hex_digest
from hashwarden.formats.nsrl.rds3_schema import HASH_COLUMNS, MAX_CHARS, file_record
from hashwarden.formats.nsrl.untrusted_sqlite import UntrustedConnection, guarded, open_readonly, read_error
from hashwarden.store.records import EntryRecord

FILE_REQUIRED = ("sha256", "sha1", "md5", "file_name", "file_size", "package_id")  # the full FILE view has no crc32


def read_records(path: str, head: bytes, report: ReadReport | None, distinct: bool) -> Iterator[EntryRecord]:
    if path == "-" or not os.path.isfile(path):
        raise FormatError("an RDSv3 SQLite database must be read from a file on disk, not a stream", path)
    con = open_readonly(path, head)
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
        required = HASH_COLUMNS if source.upper() == "DISTINCT_HASH" else FILE_REQUIRED
        missing = [c for c in required if c not in columns]
        if missing:
            raise FormatError(
                f"not an NSRL RDSv3 database: {source} lacks column(s) {', '.join(missing)}", path, field=source
            )
        if report is not None:
            report.meta["nsrl"] = "rdsv3"
            report.meta["nsrl_relation"] = source.upper()
            report.meta.update(version_meta(con, relations))
        yield from _stream_rows(con, source, columns, required is HASH_COLUMNS, path)
    except sqlite3.DatabaseError as exc:
        raise read_error(con, exc, path, source) from exc
    finally:
        con.close()


def version_meta(con: UntrustedConnection, relations: dict[str, str]) -> dict[str, Any]:
    """The `VERSION` rows (release, build set, dates): recorded with the import so the set says which RDS it is."""
    if "VERSION" not in relations:
        return {}
    try:
        names = [row[1] for row in con.execute(f'PRAGMA table_info("{relations["VERSION"]}")')]
        quoted = ['"' + name.replace('"', '""') + '"' for name in names]
        cursor = con.execute(f'SELECT {", ".join(guarded(q, MAX_RDS_NAME_CHARS) for q in quoted) or "*"} '
                             f'FROM "{relations["VERSION"]}" LIMIT 50')
        rows = [dict(zip(names, row)) for row in cursor]
    except sqlite3.Error:
        return {}
    for number, row in enumerate(rows, start=1):
        for name, value in row.items():
            if isinstance(value, bytes) or (isinstance(value, str) and len(value) > MAX_RDS_NAME_CHARS):
                raise FormatError(f"row {number} of VERSION: {name} is bytes or longer than {MAX_RDS_NAME_CHARS} "
                                  "characters, which no release description is", con.path, number, field=name)
    return {"rds_version": rows}


def _stream_rows(
    con: UntrustedConnection, source: str, columns: set[str], hashes_only: bool, path: str
) -> Iterator[EntryRecord]:
    """Records from `source`, checked in Python: SQLite's GLOB and lower() cost more per row than one
    `bytes.fromhex` over the three hashes joined (a hex string of 136 characters decodes to 68 bytes only if
    every part is hex of the right length) and one lower() of the join."""
    selected = ", ".join([
        *(guarded(c, MAX_CHARS[c]) for c in HASH_COLUMNS),
        guarded("crc32", MAX_CHARS["crc32"]) if "crc32" in columns else "NULL",
        *(("NULL", "NULL", "NULL") if hashes_only else
          (guarded(c, MAX_CHARS[c]) for c in ("file_name", "file_size", "package_id"))),
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
                        or (name is not None and (name.__class__ is not str or len(name) > MAX_RDS_NAME_CHARS))
                        or crc32.__class__ is bytes or package.__class__ is bytes):
                    raise ValueError
            except (TypeError, ValueError):  # None, empty, short, long, non-hex or a blob: the slow, exact path
                sha256, sha1, md5 = checked_row(sha256, sha1, md5, size, source, number, path, crc32, name, package)
            else:
                joined = joined.lower()
                sha256, sha1, md5 = joined[:64], joined[64:104], joined[104:]
            if number > con.max_rows:
                con.check_rows(number, source, path)
            yield file_record(sha256, sha1, md5, crc32, name, size, package, number)
    except sqlite3.DatabaseError as exc:
        raise read_error(con, exc, path, source, number) from exc


def checked_row(
    sha256: Any, sha1: Any, md5: Any, size: Any, source: str, number: int, path: str,
    crc32: Any = None, file_name: Any = None, package_id: Any = None,
) -> tuple[str | None, str | None, str | None]:
    """The hashes of a row the fast check refused: empty ones as None, or the precise FormatError (a value too
    long, of the wrong type, not hex, ...)."""
    where = f"row {number} of {source}"
    for name, value in (("crc32", crc32), ("file_name", file_name), ("package_id", package_id),
                        *zip(HASH_COLUMNS, (sha256, sha1, md5))):
        if isinstance(value, bytes):
            raise FormatError(f"{where}: {name} is bytes, not text", path, number, field=name)
        if isinstance(value, str) and len(value) > MAX_CHARS[name]:
            raise FormatError(f"{where}: {name} is longer than {MAX_CHARS[name]} characters", path, number,
                              field=name)
    out = []
    for name, value in zip(HASH_COLUMNS, (sha256, sha1, md5)):
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
