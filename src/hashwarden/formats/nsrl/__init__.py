"""NIST NSRL Reference Data Set: RDSv3 SQLite (minimal and full), RDSv3 delta scripts, RDSv2 `NSRLFile.txt`.

NSRL is the known-file filter: it is imported into an `ignorable` set. Three shapes exist in the field, one module
each; `read` here tells them apart by content:

* **RDSv3 SQLite**, minimal or full (`rds3`: records; `rds3_rows`: ready `entry` rows for the bulk loader; both
  open the file through `untrusted_sqlite`).
* **RDSv3 delta**: a quarterly `.sql` script (`delta`: parsed with the tokenizer of `sql_tokens`, never run).
* **RDSv2 `NSRLFile.txt`** (`rds2`).

Each `FILE` row becomes one `EntryRecord` (the same file in two packages is two rows; the store de-duplicates):
hashes lowercase, `size`, and in `attributes` the `file_name`, `package_id` (RDSv2 `ProductCode` is the same id:
the RDSv3 `PKG` view is RDSv2's `NSRLProd.txt`), `crc32`, and for RDSv2 `operating_system_code`/`special_code`.
`line` is the row number in scan order (SQLite) or the line number (text). `rds3_schema` holds the tables and
columns all RDSv3 shapes share.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats.nsrl.delta import read_delta_lines, records_of_delta
from hashwarden.formats.nsrl.rds2 import read_lines
from hashwarden.formats.nsrl.rds3 import read_records
from hashwarden.formats.nsrl.untrusted_sqlite import SQLITE_MAGIC
from hashwarden.store.records import EntryRecord


def read(
    fp: BinaryIO, path: str, report: ReadReport | None = None, *, distinct: bool = False,
    encoding: str | None = None,
) -> Iterator[EntryRecord]:
    """Yield one record per NSRL file row, whichever of the three shapes `fp` holds (told apart by content).

    `distinct=True` reads RDSv3 `DISTINCT_HASH` instead of `FILE`: hashes only, about 6x fewer rows on the modern
    set (73.8 M distinct against 441.6 M rows), no names. A delta script read here yields its `FILE` inserts only
    and refuses one that deletes or updates `FILE` rows (use `delta.read_delta`). `encoding` forces a text encoding;
    by default non-UTF-8 lines are read as Windows-1252 with a warning in `report` (see `decoded_lines`).

    Raises:
        FormatError: not NSRL (an SQLite without `FILE`/`DISTINCT_HASH`, an unknown text header), or a bad row:
            hash of the wrong length or not hex, truncated line, bad size; names file, line or row, and field.
    """
    head = fp.read(100)
    if head.startswith(SQLITE_MAGIC):
        yield from read_records(path, head, report, distinct)
        return
    first = head + fp.readline() if head and not head.endswith(b"\n") else head
    pieces = first.split(b"\n")  # as iterating fp does: split at \n only, never at a lone \r in a name
    lines = chain([piece + b"\n" for piece in pieces[:-1]], [pieces[-1]] if pieces[-1] else [], fp)
    kind = _text_kind(first)
    if kind == "rds2":
        yield from read_lines(lines, path, report, encoding)
    elif kind == "sql":
        yield from records_of_delta(read_delta_lines(lines, path, report, encoding), path, report)
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
    """True when a file starting with `head` is an RDSv3 delta `.sql` script (apply it with `delta.read_delta`)."""
    return not head.startswith(SQLITE_MAGIC) and _text_kind(head) == "sql"


def _text_kind(first: bytes) -> str | None:
    text = first.lstrip(b"\xef\xbb\xbf").lstrip().upper()
    if text.startswith(b'"SHA') or text.startswith(b"SHA-1,") or text.startswith(b'"MD5"'):
        return "rds2"
    if re.match(rb"(BEGIN|INSERT|DELETE|UPDATE|REPLACE|PRAGMA|COMMIT|END|--|/\*)", text):
        return "sql"
    return None
