"""Hash-list formats: each module reads one format into `EntryRecord`s (and, where the field needs it, writes it).

Every reader is a generator `read(fp, path, report=None) -> Iterator[EntryRecord]` over a binary file object. It
raises `FormatError` naming the file, the line or byte offset, and the field on the first malformed record;
`store.loader` runs it inside one transaction, so an import is all or nothing. What a reader notices besides records
(warnings, fields dropped on purpose such as VICS `Miniature`, the list's declared version) goes into the
optional `ReadReport`, which the import records and prints.

`READERS` maps the `hashwarden import FORMAT` names to their modules, imported only when used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Callable

READERS: dict[str, str] = {
    "hashes": "hashwarden.formats.jsonl",
    "md5sum": "hashwarden.formats.md5sum",
    "pdq": "hashwarden.formats.pdqlist",
    "vics": "hashwarden.formats.vics",
    "nsrl": "hashwarden.formats.nsrl",
    "icse": "hashwarden.formats.icse",
    "hashdeep": "hashwarden.formats.hashdeep",
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
    return import_module(READERS[name]).read


def row_reader(name: str) -> Callable[..., Any] | None:
    """The format's `read_rows` (ready `entry` rows, for lists of millions of lines), when it has one."""
    return getattr(import_module(READERS[name]), "read_rows", None)
