"""hashdeep / md5deep audit files (`hashdeep -r`): a two-line header, `##` comments, `size,hash...,filename` rows.

    %%%% HASHDEEP-1.0
    %%%% size,md5,sha256,filename
    ## Invoked from: /home/user
    ## $ hashdeep -r evidence
    ##
    5,0d599f0ec05c3bda8c3b8a68c32a1b47,...,/home/user/evidence/a.txt

The column line varies with `hashdeep -c` (md5, sha1, sha256, tiger, whirlpool, ...). The file name is the last
field and may itself contain commas: hashdeep's own reader splits on every comma and truncates such names, so this
one splits only as many times as there are hash columns and keeps the rest whole. `md5`, `sha1`, `sha256` become
the record's hashes; other algorithms (tiger, whirlpool) are kept as given in `attributes`, as is `file_name`.
A second header block (two audit files concatenated) restarts the column list.

Spreadsheets open these files as CSV, so a name that would put a formula in a cell (`=HYPERLINK(...)`, `@SUM`, a
`,-x` inside the name) is written as OWASP recommends against CSV injection, with a `'` before the formula
character (`_fields.spreadsheet_safe_name`). `read` takes exactly that `'` away, so an export imports back to the
same names; hashdeep itself sees the `'`, which changes no hash it audits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, BinaryIO

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats._fields import (
    HEX_LENGTHS, hex_digest, name_from_spreadsheet_safe, parse_size, record_name, spreadsheet_safe_name,
)
from hashwarden.formats._lines import decoded_lines, write_lines
from hashwarden.store.records import EntryRecord

MAGIC = "%%%% HASHDEEP-1.0"
COLUMNS_PREFIX = "%%%% size,"
DEFAULT_ALGORITHMS = ("md5", "sha256")  # what `hashdeep` computes when not told otherwise


def read(
    fp: BinaryIO, path: str, report: ReadReport | None = None, *, encoding: str | None = None
) -> Iterator[EntryRecord]:
    """Yield one record per file row.

    Raises:
        FormatError: no `%%%% HASHDEEP-1.0` header, a column line without size/filename or with none of md5,
            sha1, sha256, a truncated row (fewer fields than columns), a bad size or hash; names file, line, field.
    """
    algorithms: list[str] | None = None
    expect_columns = False
    invocation: list[str] = []
    for number, raw in decoded_lines(fp, path, report, encoding):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.startswith("%%%%"):
            if line.strip() == MAGIC:
                expect_columns = True
            elif expect_columns and line.lower().startswith(COLUMNS_PREFIX):
                algorithms = _columns(line, path, number)
                expect_columns = False
                if report is not None:
                    report.meta["hashdeep_columns"] = ["size", *algorithms, "filename"]
            else:
                raise FormatError(f"unexpected header line {line[:80]!r} (expected {MAGIC!r} then "
                                  f"'{COLUMNS_PREFIX}...,filename')", path, number)
            continue
        if expect_columns:
            raise FormatError(f"the {MAGIC!r} line must be followed by the column line '{COLUMNS_PREFIX}...'",
                              path, number)
        if line.startswith("#"):
            if line.startswith("## ") and line[3:].strip() and len(invocation) < 10 and report is not None:
                invocation.append(line[3:])  # "Invoked from: <dir>", "$ <command>": how the list was made
                report.meta["hashdeep_comments"] = invocation
            continue
        if algorithms is None:
            raise FormatError(f"not a hashdeep file: a row before the {MAGIC!r} header", path, number)
        yield _record(line, algorithms, path, number)


def _columns(line: str, path: str, number: int) -> list[str]:
    names = [name.strip().lower() for name in line[len("%%%% "):].split(",")]
    if names[-1] != "filename":
        raise FormatError(f"the column line must end with 'filename': {line[:120]!r}", path, number)
    algorithms = names[1:-1]
    if not algorithms or len(set(algorithms)) != len(algorithms) or not all(a.isalnum() for a in algorithms):
        raise FormatError(f"bad hash column list: {line[:120]!r}", path, number)
    if not set(algorithms) & HEX_LENGTHS.keys():
        raise FormatError(
            f"none of md5, sha1, sha256 among the columns ({', '.join(algorithms)}): nothing to match on", path, number
        )
    return algorithms


def _record(line: str, algorithms: list[str], path: str, number: int) -> EntryRecord:
    parts = line.split(",", len(algorithms) + 1)
    if len(parts) != len(algorithms) + 2:
        missing = (["size"] + algorithms + ["filename"])[len(parts)]
        raise FormatError(
            f"{len(parts)} fields where the columns need {len(algorithms) + 2} (size, {', '.join(algorithms)}, "
            "filename): truncated line?", path, number, field=missing,
        )
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for algorithm, value in zip(algorithms, parts[1:-1]):
        if algorithm in HEX_LENGTHS:
            fields[algorithm] = hex_digest(value.strip(), algorithm, path, number)
        elif value.strip():
            attributes[algorithm] = value.strip().lower()
    if not any(fields.values()):
        raise FormatError("row has no md5, sha1 or sha256 value", path, number)
    if parts[-1]:
        attributes["file_name"] = name_from_spreadsheet_safe(parts[-1])
    return EntryRecord(
        **fields, size=parse_size(parts[0].strip(), path, number, "size"), attributes=attributes, line=number
    )


def write(
    records: Iterable[EntryRecord], fp: BinaryIO, *, algorithms: Sequence[str] | None = None
) -> int:
    """Write records as a hashdeep audit file that `hashdeep -a -k` and this module's `read` accept; return rows.

    `algorithms` picks and orders the hash columns among md5, sha1, sha256. By default they are those of the first
    record (md5, sha256 for an empty input), since a stream cannot be looked at twice; pass them explicitly when
    records differ. A record without any chosen hash is skipped; one missing some has that field empty (this
    module reads it as absent; hashdeep itself reports such a line as invalid). The name comes from
    `attributes["file_name"]` (or `comments`); line breaks in it would end the row, so they are written as `?`,
    and a `'` goes before a formula character where a spreadsheet cell would start (module docstring).

    Raises:
        ValueError: an algorithm other than md5, sha1, sha256.
    """
    iterator = iter(records)
    first = next(iterator, None)
    if algorithms is None:
        chosen = [a for a in HEX_LENGTHS if first is not None and getattr(first, a)] or list(DEFAULT_ALGORITHMS)
    else:
        chosen = list(algorithms)
        unknown = [a for a in chosen if a not in HEX_LENGTHS]
        if unknown or not chosen:
            raise ValueError(f"hashdeep columns must be among md5, sha1, sha256, not {unknown or chosen}")
    header = f"{MAGIC}\n{COLUMNS_PREFIX}{','.join(chosen)},filename\n## Written by hashwarden\n##\n"
    fp.write(header.encode("ascii"))
    return write_lines(fp, _rows(iterator if first is None else chain((first,), iterator), chosen))


def _rows(records: Iterable[EntryRecord], algorithms: list[str]) -> Iterator[str]:
    for record in records:
        hashes = [getattr(record, a) or "" for a in algorithms]
        if not any(hashes):
            continue
        name = record_name(record) or ""
        if "\n" in name or "\r" in name:
            name = name.replace("\r", "?").replace("\n", "?")
        name = spreadsheet_safe_name(name)
        size = "" if record.size is None else str(record.size)
        yield f"{size},{','.join(hashes)},{name}\n"
