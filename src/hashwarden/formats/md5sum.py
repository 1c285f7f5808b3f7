"""md5sum / sha1sum / sha256sum output (GNU `HASH  name`, `HASH *name`, BSD `MD5 (name) = HASH`); type by length.

`read` takes every form; `write` emits the GNU form (one digest type per file, as `md5sum -c` and The Sleuth
Kit's `hfind -i md5sum` expect).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from hashwarden.formats import ReadReport
from hashwarden.errors import FormatError
from hashwarden.formats._fields import HEX_LENGTHS, record_name
from hashwarden.formats._lines import text_lines, write_lines
from hashwarden.store.hashsets import EntryRecord

_GNU = re.compile(r"\\?([0-9A-Fa-f]+)(?:\s+\*?(.*))?")
_BSD = re.compile(r"(MD5|SHA1|SHA256) ?\((.*)\) ?= ?([0-9A-Fa-f]+)")


def read(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[EntryRecord]:
    """Yield one record per line.

    Raises:
        FormatError: a line is neither form, or its hash is not 32, 40 or 64 hex characters.
    """
    names = {32: "md5", 40: "sha1", 64: "sha256"}
    for number, text in text_lines(fp, path):
        # The common GNU form `HASH  name` without a regex: this loop is most of a 5M-line import's time.
        value, _, name = text.partition("  ")
        if len(value) not in names or value.startswith("\\") or not _is_hex(value):
            value, name = _slow_parse(text, path, number)
        elif name.startswith("*"):
            name = name[1:]
        digest = names.get(len(value))
        if digest is None:
            raise FormatError(f"hash of {len(value)} hex characters is not md5, sha1 or sha256", path, number)
        record = EntryRecord(comments=name or None, line=number)
        setattr(record, digest, value.lower())
        yield record


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
    `hfind -i md5sum` and Autopsy's text import accept. Backslashes (Windows paths) are written as they are: GNU
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
        if not name:
            yield value + "\n"
        elif "\n" in name or "\r" in name:
            escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            yield f"\\{value}  {escaped}\n"
        else:
            yield f"{value}  {name}\n"
