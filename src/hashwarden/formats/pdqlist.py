"""PDQ hash lists: one 64-hex hash per line, optionally `,quality`; further comma fields are ignored.

This reads the ThreatExchange test files (`haystack.txt`, `needles.txt`) and the reference CLI's output; `write`
emits `hex,quality`, which both read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from hashwarden.formats import ReadReport
from hashwarden.errors import FormatError, InvalidSignal
from hashwarden.formats._lines import text_lines, write_lines
from hashwarden.signals import PDQ
from hashwarden.store.records import EntryRecord


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


def write(records: Iterable[EntryRecord], fp: BinaryIO) -> int:
    """Write `hex,quality` lines (just `hex` when the quality is unknown), as `read` and the reference CLI read
    them; return how many. Records without a PDQ hash are skipped."""
    return write_lines(fp, (
        f"{r.pdq}\n" if r.pdq_quality is None else f"{r.pdq},{r.pdq_quality}\n" for r in records if r.pdq
    ))
