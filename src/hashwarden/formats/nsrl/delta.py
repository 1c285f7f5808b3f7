"""RDSv3 delta scripts: a quarterly `.sql` script of `INSERT`/`UPDATE`/`DELETE` statements meant to be run against
the previous database, turned into `DeltaOp`s for the store to apply.

`read_delta` *parses* the statements with a small whitelist grammar; it never executes them, not even in a private
in-memory SQLite, because (1) a `DELETE ... WHERE sha256 = '…'` run against an empty private copy deletes nothing,
so the keys it targets would have to be parsed out anyway; (2) parsing admits only literal `VALUES` and
`col = literal` conditions, so nothing in the file (`ATTACH`, `INSERT ... SELECT`, recursive queries, pragmas) can
touch a file, our database or the CPU budget; (3) it streams a multi-GB script in constant memory. A statement
outside that grammar is a `FormatError` naming its line, so a delta is never applied half-understood.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, BinaryIO, NamedTuple

from hashwarden.config import MAX_DELTA_KEYS, MAX_DELTA_STATEMENT_BYTES, MAX_RDS_NAME_CHARS
from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats._fields import hex_digest, parse_size
from hashwarden.formats._lines import decoded_lines
from hashwarden.formats.nsrl.rds3_schema import HASH_COLUMNS, MAX_CHARS, TABLE_COLUMNS, file_record
from hashwarden.formats.nsrl.sql_tokens import Statement, tokenize
from hashwarden.store.records import EntryRecord

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class DeltaOp(NamedTuple):
    """One change an RDSv3 delta makes, for the store to apply in file order.

    * `("insert", FILE)`: `record` is the new entry, exactly as `nsrl.read` would build it from that row.
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
    """`read_delta` over an iterable of byte lines (what `nsrl.read` uses after sniffing the first line)."""
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


def records_of_delta(ops: Iterator[DeltaOp], path: str, report: ReadReport | None) -> Iterator[EntryRecord]:
    for op in ops:
        if op.record is not None:
            yield op.record
        elif op.table == "FILE":
            raise FormatError(
                f"this RDSv3 delta {op.action}s FILE rows: it changes an existing NSRL set, so it must be applied "
                "as a delta to the set it updates (nsrl.delta.read_delta), not imported as a list", path, op.line,
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
        elif size > MAX_DELTA_STATEMENT_BYTES:
            raise FormatError(f"statement starting here runs past {MAX_DELTA_STATEMENT_BYTES >> 20} MB without a ';'",
                              path, start)
    if parts and "".join(parts).strip():
        yield start, "".join(parts)  # the parser refuses it unless it is a whole statement missing only its ';'


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
            or len(name) > MAX_RDS_NAME_CHARS or len(crc32) > MAX_CHARS["crc32"]):
        return None
    joined = joined.lower()
    return file_record(joined[:64], joined[64:104], joined[104:], crc32, name.replace("''", "'"), int(size),
                        int(package), line)


_SKIPPED = {"BEGIN", "COMMIT", "END", "PRAGMA", "ANALYZE", "VACUUM", "REINDEX"}
_CONFLICT = ("REPLACE", "IGNORE", "ABORT", "FAIL", "ROLLBACK")


def _parse_statement(text: str, line: int, path: str) -> list[DeltaOp]:
    """The ops of the statement(s) in `text` (several may share a line; none for transaction control and such).

    Raises:
        FormatError: anything outside the grammar `read_delta` documents.
    """
    ops: list[DeltaOp] = []
    statement: list[tuple[str, Any]] = []
    for token in [*tokenize(text, path, line), ("punct", ";")]:
        if token != ("punct", ";"):
            statement.append(token)
        elif statement:
            ops.extend(_parse_one(Statement(statement, path, line)))
            statement = []
    return ops


def _parse_one(st: Statement) -> list[DeltaOp]:
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


def _until(st: Statement, close: str) -> Iterator[int]:
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


def _table(st: Statement) -> str:
    table = st.name("a table name")
    if table not in TABLE_COLUMNS:
        st.fail(f"table {table} is not one of the RDSv3 minimal tables ({', '.join(TABLE_COLUMNS)}); is this a "
                "delta for the full database? Use the minimal delta")
    return table


def _column(st: Statement, table: str) -> str:
    column = st.name("a column name").lower()
    if column not in TABLE_COLUMNS[table]:
        st.fail(f"{table} has no column {column!r}", column)
    return column


def _conditions(st: Statement, table: str) -> list[dict[str, Any]]:
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
                st.fail(f"only '{column} = value' and '{column} IN (...)' conditions are read, found {st.shown()}")
        if len(keys) > MAX_DELTA_KEYS:
            st.fail(f"a condition that expands to more than {MAX_DELTA_KEYS:,} keys (IN lists combined with AND)")
        if st.accept("AND") is None:
            return keys


def _merge(st: Statement, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
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
        if column in HASH_COLUMNS:
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
            if value is not None and len(value) > MAX_CHARS[column]:
                raise FormatError(f"RDS delta: {column} is longer than {MAX_CHARS[column]} characters", path,
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
    if not any(values.get(c) for c in HASH_COLUMNS):
        raise FormatError("RDS delta: a FILE row without sha256, sha1 or md5", path, line)
    return DeltaOp("insert", table, line, record=file_record(
        values.get("sha256"), values.get("sha1"), values.get("md5"), values.get("crc32"), values.get("file_name"),
        values.get("size"), values.get("package_id"), line,
    ))
