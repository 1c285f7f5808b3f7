"""Field checks shared by the hash-list readers and writers: hex digests, sizes, a record's file name.

Readers call these once per field of millions of rows, so they avoid regular expressions: `bytes.fromhex` checks
hex in C, and comparing lengths rejects the whitespace `fromhex` would otherwise skip.
"""

from __future__ import annotations

import re

from hashwarden.errors import FormatError
from hashwarden.signals.crypto import DIGESTS
from hashwarden.store.records import EntryRecord

HEX_LENGTHS = {digest.name: digest.hex_length for digest in DIGESTS}  # md5 32, sha1 40, sha256 64


def hex_digest(value: str, digest: str, path: str, line: int | None, field: str | None = None) -> str | None:
    """`value` as lowercase hex when it is a `digest` ("md5", "sha1" or "sha256") digest; None when empty.

    Empty means "this list has no such hash for the row" (NSRL and ICSE leave columns blank); anything else that
    is not exactly the digest's length in hex is an error, never silently dropped.

    Raises:
        FormatError: wrong length or not hex; names the file, line and field (`field`, else the digest name).
    """
    if not value:
        return None
    length = HEX_LENGTHS[digest]
    if len(value) == length:
        try:
            # fromhex skips whitespace between byte pairs: the decoded length proves there was none
            if len(bytes.fromhex(value)) * 2 == length:
                return value.lower()
        except ValueError:
            pass
    raise FormatError(_describe_bad_hex(value, digest), path, line, field=field or digest)


def _describe_bad_hex(value: str, digest: str) -> str:
    """Why `value` is not a `digest` digest, in words an analyst can act on (length or the first non-hex char)."""
    length = HEX_LENGTHS[digest]
    shown = value if len(value) <= 80 else value[:77] + "..."
    for position, char in enumerate(value, start=1):
        if char not in "0123456789abcdefABCDEF":
            return f"not a valid {digest} digest: {char!r} at character {position} is not hex in {shown!r}"
    return f"not a valid {digest} digest: {len(value)} hex characters, expected {length}: {shown!r}"


def parse_size(value: str, path: str, line: int | None, field: str) -> int | None:
    """A file size in bytes; None when empty.

    Raises:
        FormatError: not a non-negative integer.
    """
    if not value:
        return None
    try:
        size = int(value)
    except ValueError:
        size = -1
    if size < 0:
        raise FormatError(f"file size must be a non-negative integer, not {value[:40]!r}", path, line, field=field)
    return size


def record_name(record: EntryRecord) -> str | None:
    """The file name a record carries, for writers of name-bearing lists (md5sum, hashdeep).

    New readers keep it in `attributes["file_name"]`; the md5sum reader keeps it in `comments`.
    """
    return record.attributes.get("file_name") or record.comments


# OWASP "CSV Injection": a spreadsheet evaluates a cell starting with one of these as a formula.
FORMULA_STARTS = "=+-@\t\r"
# Where a spreadsheet may begin a cell inside a name written unquoted: the name's start, or after ',', ';' or tab
# (whichever separator it picks), past spaces and quotes; then the run of "'" already there, before a formula
# character. Writing adds one "'" to that run and reading takes one away, so the two are exact inverses.
_FORMULA_CELL = re.compile(f"""(^|[,;\t])([ "]*)('*)(?=[{re.escape(FORMULA_STARTS)}])""")
_GUARDED_CELL = re.compile(f"""(^|[,;\t])([ "]*)'('*)(?=[{re.escape(FORMULA_STARTS)}])""")


def spreadsheet_safe_name(name: str) -> str:
    """`name` written so that no cell a spreadsheet makes of it starts a formula, as OWASP recommends: a `'`
    before the formula character (`=1+1` -> `'=1+1`, `a;-1` -> `a;'-1`).

    Every cell start is treated, not only the name's first character, because the name is the unquoted last field
    of a comma-separated line and may itself hold separators. Quoting the field instead would protect only under
    one separator (a `;` locale splits inside the quotes), and the tools that read these files take quotes as part
    of the name. A `'` already before a formula character gets one more (`'=x` -> `''=x`), so that
    `name_from_spreadsheet_safe` gives back every name exactly.
    """
    return _FORMULA_CELL.sub(r"\1\2'\3", name)


def name_from_spreadsheet_safe(field: str) -> str:
    """The name `spreadsheet_safe_name` wrote as `field`: one `'` less before each formula character at a cell
    start. Other names are unchanged (`'plain`); only a name from another tool with `'` before a formula character
    at a cell start (`'=x`) loses that `'`."""
    return _GUARDED_CELL.sub(r"\1\2\3", field)
