"""md5sum / sha1sum / sha256sum output (GNU `HASH  name`, `HASH *name`, BSD `MD5 (name) = HASH`); type by length.

`read` takes every form; `write` emits the GNU form (one digest type per file, as `md5sum -c` and The Sleuth
Kit's `hfind -i md5sum` expect).
"""

from __future__ import annotations

import io
import re
from binascii import unhexlify
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import numpy as np

from hashwarden.formats import ReadReport
from hashwarden.errors import FormatError
from hashwarden.formats._fields import HEX_LENGTHS, record_name
from hashwarden.formats._lines import text_lines, write_lines
from hashwarden.store.batches import ColumnBatch, RowBatch, records_as_rows
from hashwarden.store.records import EntryRecord

# `HASH *name` (binary mode), `HASH  name` (text mode: a leading `*` belongs to the name), or any whitespace.
_GNU = re.compile(r"\\?([0-9A-Fa-f]+)(?:(?: \*| {2}|\s+)(.*))?")
_BSD = re.compile(r"(MD5|SHA1|SHA256) ?\((.*)\) ?= ?([0-9A-Fa-f]+)")


def read(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[EntryRecord]:
    """Yield one record per line.

    Raises:
        FormatError: a line is neither form, or its hash is not 32, 40 or 64 hex characters.
    """
    names = {32: "md5", 40: "sha1", 64: "sha256"}
    for number, text in text_lines(fp, path):
        # The common GNU form `HASH  name` without a regex: this loop is most of a 5M-line import's time.
        # Two spaces (text mode) then the name as it is: GNU writes `HASH  *x` for a file named `*x`.
        value, _, name = text.partition("  ")
        if len(value) not in names or value.startswith("\\") or not _is_hex(value):
            value, name = _slow_parse(text, path, number)
        digest = names.get(len(value))
        if digest is None:
            raise FormatError(f"hash of {len(value)} hex characters is not md5, sha1 or sha256", path, number)
        if digest == "sha256" and not name:
            # 64 hex characters alone could as well be a PDQ hash: stored as a SHA-256 it would never match
            raise FormatError("64 hex characters without a file name: a SHA-256 digest or a PDQ hash? Is this a "
                              "PDQ list? Use `hashwarden import pdq`. A sha256sum line names its file "
                              "(`HASH  -` for none)", path, number)
        record = EntryRecord(comments=name or None, line=number)
        setattr(record, digest, value.lower())
        yield record


# One GNU-form line: hash, two spaces (or space and `*`), a name without control line breaks.
_FAST_LINE = re.compile(rb"^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}) [ *]([^\r\n]*)\r?\n", re.MULTILINE)
_FAST_CHUNK = 1 << 20


def read_rows(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[RowBatch | ColumnBatch]:
    """The same lists as `read`, as ready `entry` rows: the path a 5M-line list takes.

    Each 1 MiB of lines is first taken as whole columns with NumPy (`_column_batch`: no Python object per line);
    a chunk that is not all GNU-form lines of one digest type with names that go into JSON as they are is matched
    by one regular expression in C and its rows built in one comprehension. Any other chunk (a comment, a BSD-form
    or malformed line, mixed digest types) goes through `read`, line by line, which also gives the exact error, so
    every path accepts and refuses the same files and stores the same values (tests compare them).
    """
    line = 0
    rest = b""
    first = True
    while True:
        data = fp.read(_FAST_CHUNK)
        chunk = rest + data
        if first:
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")
            first = False
        if not data:
            if chunk:
                yield from _slow_rows(chunk, path, line)
            return
        cut = chunk.rfind(b"\n") + 1
        chunk, rest = chunk[:cut], chunk[cut:]
        if not chunk:
            continue
        batch = _column_batch(chunk, line)
        if batch is not None:
            yield batch
            line += len(batch)
            continue
        matches = _FAST_LINE.findall(chunk)
        lines = chunk.count(b"\n")
        width = len(matches[0][0]) if matches else 0
        if len(matches) == lines and all(len(h) == width for h, _ in matches):
            try:
                rows = [(unhexlify(h), n.decode() or None, line + i) for i, (h, n) in enumerate(matches, 1)]
            except UnicodeDecodeError:
                rows = None
            if rows is not None:
                yield RowBatch((_NAMES[width], "comments", "line"), rows)
                line += lines
                continue
        yield from _slow_rows(chunk, path, line)
        line += lines


_NAMES = {32: "md5", 40: "sha1", 64: "sha256"}
# Bytes a name may not hold to be written into a JSON string as it is: quotes, backslashes, control characters
# (the newline ends a line; a carriage return sends the chunk to the row path).
_JSON_UNSAFE = np.zeros(256, dtype=bool)
_JSON_UNSAFE[[*range(0x20), ord('"'), ord("\\")]] = True
_JSON_UNSAFE[ord("\n")] = False
# Hex digit values by byte (255: not a hex digit).
_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
for _digit in b"0123456789":
    _HEX_VALUE[_digit] = _digit - ord("0")
for _offset, _digit in enumerate(b"abcdef"):
    _HEX_VALUE[_digit] = _HEX_VALUE[_digit - 32] = 10 + _offset


def _column_batch(chunk: bytes, first_line: int) -> ColumnBatch | None:
    """A chunk of GNU-form lines (`HASH  name` or `HASH *name`, one digest type, `\\n` endings) as whole columns,
    or None when any line is otherwise or a name would need escaping in JSON or is not UTF-8.

    Vectorised, so a 5M-line list costs no Python object per line: the line starts come from the newline
    positions and the digests from a gather of the hex columns through a lookup table; the names' JSON array is
    the chunk with each line's `HASH  ` prefix masked out and each newline widened to `","`. (Passing the lines
    whole and cutting the prefix in SQL is cheaper here but costs SQLite more, and SQLite is the bottleneck
    while this runs one chunk ahead in a thread.)
    """
    width = chunk.find(b" ")
    if width not in _NAMES:
        return None
    data = np.frombuffer(chunk, dtype=np.uint8)
    if _JSON_UNSAFE[data].any():
        return None
    ends = np.flatnonzero(data == 10)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    if (ends - starts < width + 2).any():
        return None
    values = _HEX_VALUE[data[starts[:, None] + np.arange(width)]]
    separators = data[starts + width], data[starts + width + 1]
    if (values == 255).any() or (separators[0] != 32).any() or ((separators[1] != 32) & (separators[1] != 42)).any():
        return None
    keep = np.ones(len(data), dtype=bool)
    keep[(starts[:, None] + np.arange(width + 2)).ravel()] = False
    names = data[keep]  # every name followed by its newline
    newlines = np.flatnonzero(names == 10)
    quoted = np.repeat(names, np.where(names == 10, 3, 1))  # each newline widened to `","`
    at = newlines + 2 * np.arange(len(newlines))
    quoted[at], quoted[at + 1], quoted[at + 2] = ord('"'), ord(","), ord('"')
    try:
        text = (b'["' + quoted[:-3].tobytes() + b'"]').decode()
    except UnicodeDecodeError:
        return None
    digests = ((values[:, 0::2] << 4) | values[:, 1::2]).tobytes()
    return ColumnBatch(len(ends), {_NAMES[width]: (width // 2, digests)}, ("comments",), text, first_line)


def _slow_rows(chunk: bytes, path: str, first_line: int) -> Iterator[RowBatch]:
    """A chunk through `read` (exact errors, every form), its line numbers continuing the file's."""
    try:
        records = list(read(io.BytesIO(chunk), path))
    except FormatError as exc:
        if exc.line is not None:
            exc.line += first_line
        raise
    for record in records:
        record.line += first_line
    yield from records_as_rows(records)


def _is_hex(value: str) -> bool:
    """Only hex digits (bytes.fromhex alone would also take spaces between pairs)."""
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return value.isascii() and value.isalnum()


def _slow_parse(text: str, path: str, number: int) -> tuple[str, str | None]:
    """The BSD form `MD5 (name) = HASH`, escaped names, single-space separators."""
    bsd = _BSD.fullmatch(text)
    if bsd:
        return bsd.group(3), bsd.group(2)
    gnu = _GNU.fullmatch(text)
    if not gnu:
        raise FormatError(f"not a checksum line: {text[:80]!r}", path, number)
    return gnu.group(1), gnu.group(2)


def write(records: Iterable[EntryRecord], fp: BinaryIO, digest: str = "md5") -> int:
    r"""Write `HASH  name` lines of one digest type; return how many. Records without that digest are skipped.

    The name is `attributes["file_name"]` (or `comments`); a record without one is written as the bare hash, which
    `hfind -i md5sum` and Autopsy's text import accept, except a SHA-256, written `HASH  -` (sha256sum's name for
    standard input), since a bare 64-hex line is refused on import as possibly a PDQ hash. Backslashes (Windows paths) are written as they are: GNU
    escaping would prefix the line with `\`, which TSK does not read. Only a name with a line break, which would
    otherwise end the line, gets GNU escaping (`\` prefix, `\\`, `\n`, `\r`), as `md5sum -c` reads it.

    Raises:
        ValueError: `digest` is not md5, sha1 or sha256.
    """
    if digest not in HEX_LENGTHS:
        raise ValueError(f"digest must be md5, sha1 or sha256, not {digest!r}")
    return write_lines(fp, _lines(records, digest))


def _lines(records: Iterable[EntryRecord], digest: str) -> Iterator[str]:
    for record in records:
        value = getattr(record, digest)
        if not value:
            continue
        name = record_name(record)
        if not name:  # md5/sha1 bare, as hfind reads them; a bare 64-hex line would read as a PDQ hash
            yield value + ("  -\n" if digest == "sha256" else "\n")
        elif "\n" in name or "\r" in name:
            escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            yield f"\\{value}  {escaped}\n"
        else:
            yield f"{value}  {name}\n"
