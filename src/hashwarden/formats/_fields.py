"""Field checks shared by the hash-list readers and writers: hex digests, sizes, a record's file name.

Readers call these once per field of millions of rows, so they avoid regular expressions: `bytes.fromhex` checks
hex in C, and comparing lengths rejects the whitespace `fromhex` would otherwise skip.
"""

from __future__ import annotations

from hashwarden.errors import FormatError
from hashwarden.signals.crypto import DIGESTS
from hashwarden.store.hashsets import EntryRecord

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
