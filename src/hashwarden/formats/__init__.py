"""Hash-list formats: each module reads one format into `EntryRecord`s (and, where the field needs it, writes it).

Every reader is a generator `read(fp, path, report=None) -> Iterator[EntryRecord]` over a binary file object. It
raises `FormatError` naming the file, the line or byte offset, and the field on the first malformed record;
`store.loader` runs it inside one transaction, so an import is all or nothing. What a reader notices besides records
(warnings, fields dropped on purpose such as VICS `Miniature`, the list's declared version) goes into the
optional `ReadReport`, which the import records and prints.

`FORMATS` is the one table of formats: the `hashwarden import FORMAT` / `export FORMAT` names and where each
one's reader, bulk row reader and writer live, imported only when used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Callable


@dataclass(frozen=True)
class Format:
    """Where one format's functions live, as `module:function` names: imported only when used, so the CLI starts
    without ijson, numpy or the SQLite readers.

    `read` yields records; `read_rows`, for lists of millions of lines, yields ready `entry` rows (`store.batches`
    batches) and is taken when the import has no reader options; `write` is the export. None: the format has none.
    `frames`: the writer writes videos' vPDQ frames, so the export reads them (the other writers would only drop them).
    """

    read: str
    read_rows: str | None = None
    write: str | None = None
    frames: bool = False


FORMATS: dict[str, Format] = {
    "hashes": Format("hashwarden.formats.jsonl:read", write="hashwarden.formats.jsonl:write", frames=True),
    "md5sum": Format("hashwarden.formats.md5sum:read", read_rows="hashwarden.formats.md5sum:read_rows",
                     write="hashwarden.formats.md5sum:write"),
    "pdq": Format("hashwarden.formats.pdqlist:read", write="hashwarden.formats.pdqlist:write"),
    "vics": Format("hashwarden.formats.vics.reader:read", write="hashwarden.formats.vics.writer:write"),
    "nsrl": Format("hashwarden.formats.nsrl:read", read_rows="hashwarden.formats.nsrl.rds3_rows:read_rows"),
    "icse": Format("hashwarden.formats.icse:read"),
    "hashdeep": Format("hashwarden.formats.hashdeep:read", write="hashwarden.formats.hashdeep:write"),
}


@dataclass
class ReadReport:
    """What a reader noticed besides the records."""

    warnings: list[str] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)  # e.g. {"Miniature": 12}: fields never stored
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"vics_version": "2.0", "region": "UK"}

    def to_json(self) -> dict[str, Any]:
        return {"warnings": self.warnings[:100], "warning_count": len(self.warnings),
                "dropped": dict(self.dropped), **({"meta": self.meta} if self.meta else {})}


def reader(name: str) -> Callable[..., Any]:
    """The `read` function of format `name`.

    Raises:
        KeyError: no such format.
    """
    return _function(FORMATS[name].read)


def row_reader(name: str) -> Callable[..., Any] | None:
    """The format's `read_rows` (ready `entry` rows, for lists of millions of lines), when it has one.

    Raises:
        KeyError: no such format.
    """
    ref = FORMATS[name].read_rows
    return _function(ref) if ref else None


def writer(name: str) -> Callable[..., Any]:
    """The `write` function of format `name`.

    Raises:
        KeyError: no such format, or it is read only.
    """
    ref = FORMATS[name].write
    if ref is None:
        raise KeyError(f"format {name!r} has no writer")
    return _function(ref)


def _function(ref: str) -> Callable[..., Any]:
    """The function a `module:function` name of `FORMATS` names."""
    module, _, function = ref.partition(":")
    return getattr(import_module(module), function)
