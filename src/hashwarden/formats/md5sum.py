"""md5sum / sha1sum / sha256sum output (GNU `HASH  name`, `HASH *name`, BSD `MD5 (name) = HASH`); type by length."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from hashwarden.formats import ReadReport
from hashwarden.errors import FormatError
from hashwarden.formats._lines import text_lines
from hashwarden.signals.crypto import digest_for_length
from hashwarden.store.hashsets import EntryRecord

_GNU = re.compile(r"\\?([0-9A-Fa-f]+)(?:\s+\*?(.*))?")
_BSD = re.compile(r"(MD5|SHA1|SHA256) ?\((.*)\) ?= ?([0-9A-Fa-f]+)")


def read(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[EntryRecord]:
    """Yield one record per line.

    Raises:
        FormatError: a line is neither form, or its hash is not 32, 40 or 64 hex characters.
    """
    for number, text in text_lines(fp, path):
        bsd = _BSD.fullmatch(text)
        if bsd:
            value, name = bsd.group(3), bsd.group(2)
        else:
            gnu = _GNU.fullmatch(text)
            if not gnu:
                raise FormatError(f"not a checksum line: {text[:80]!r}", path, number)
            value, name = gnu.group(1), gnu.group(2)
        digest = digest_for_length(len(value))
        if digest is None:
            raise FormatError(f"hash of {len(value)} hex characters is not md5, sha1 or sha256", path, number)
        record = EntryRecord(provenance=f"{path}:{number}", comments=name or None)
        setattr(record, digest.name, value.lower())
        yield record
