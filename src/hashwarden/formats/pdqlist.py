"""PDQ hash lists: one 64-hex hash per line, optionally `,quality`; further comma fields are ignored.

This reads the ThreatExchange test files (`haystack.txt`, `needles.txt`) and the reference CLI's output.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from hashwarden.formats import ReadReport
from hashwarden.errors import FormatError, InvalidSignal
from hashwarden.formats._lines import text_lines
from hashwarden.signals import PDQ
from hashwarden.store.hashsets import EntryRecord


def read(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[EntryRecord]:
    """Yield one record per line.

    Raises:
        FormatError: the first field is not a PDQ hash, or the quality is not an integer 0-100.
    """
    for number, text in text_lines(fp, path):
        fields = [f.strip() for f in text.split(",")]
        try:
            value = PDQ.validate(fields[0])
        except InvalidSignal as exc:
            raise FormatError(str(exc), path, number) from exc
        quality = None
        if len(fields) > 1 and fields[1]:
            if not fields[1].isdigit() or int(fields[1]) > 100:
                raise FormatError(f"quality must be an integer from 0 to 100, not {fields[1]!r}", path, number)
            quality = int(fields[1])
        yield EntryRecord(pdq=value, pdq_quality=quality, media="image", provenance=f"{path}:{number}")
