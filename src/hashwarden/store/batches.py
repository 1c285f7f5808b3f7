"""Rows on their way into `entry`, in the two shapes the loader takes: `RowBatch` (tuples) and `ColumnBatch` (whole
columns), and the one conversion of `EntryRecord`s into row batches.

Why batches and not records: at 5M rows (NSRL, national lists) one INSERT per record through SQLAlchemy ran at
about 50k rows/s; batches go straight to the DBAPI driver (`store.writer`), binding only the columns some record
fills.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter
from typing import Any

from hashwarden.config import IMPORT_BATCH_ROWS
from hashwarden.store.records import canonical_json
from hashwarden.store.records import EntryRecord


# The EntryRecord fields stored as entry columns of the same name.
RECORD_FIELDS = (
    "md5", "sha1", "sha256", "pdq", "pdq_quality", "media", "size", "category", "category_scheme", "series",
    "victim_identified", "offender_identified", "is_distributed", "tags", "comments", "date_updated",
    "provenance", "media_id", "photodna", "attributes", "line",
)
_HEX_COLUMNS = frozenset(("md5", "sha1", "sha256", "pdq"))
_GETTERS = {name: attrgetter(name) for name in (*RECORD_FIELDS, "category", "vpdq")}


@dataclass(frozen=True)
class RowBatch:
    """Rows ready for `entry`, as a fast reader yields them: column names and tuples in that order, digests as
    bytes, JSON already text. `set_id`, `import_id` and `created_at` are added by the loader."""

    columns: tuple[str, ...]
    rows: list[tuple]
    ordered_by: str | None = None  # see ColumnBatch

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class ColumnBatch:
    """Rows as whole columns, for readers of the biggest lists: no Python object per row on the way in.

    `digests` maps a digest column to the concatenation of its values, all `width` bytes wide (every row has one).
    `values` is a JSON array with one element per row: with one value column, its value (an empty string stands
    for NULL: readers that splice text cannot write null); with several, an array of values in `value_columns`
    order (JSON null for NULL). A value that is a JSON object (`attributes`) is stored as its JSON text in the one
    stored form (`records.canonical_json`: compact, keys as given, which readers give sorted; SQLite writes the
    same), an empty object as NULL. Rows are the file's lines `first_line + 1` onwards (the `line` column), unless
    `line` is one of `value_columns` (rows not in file order; `first_line` is then None).

    `ordered_by` names a digest column whose values ascend through the whole import (a reader that reads its
    source in that digest's order): the loader keeps that digest's index live, as rows then only append to it,
    instead of dropping it and sorting all rows again at the end. It is a hint: the index is correct either way.

    This is the loader's input, not its storage: `store.writer` inserts it on SQLite by one `INSERT ... SELECT`
    over `json_each` (about 5x faster than `executemany` binding the values row by row); other backends take
    `rows`.
    """

    count: int
    digests: dict[str, tuple[int, bytes]]
    value_columns: tuple[str, ...]
    values: str
    first_line: int | None
    ordered_by: str | None = None

    def __len__(self) -> int:
        return self.count

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.digests, *self.value_columns, *(() if self.first_line is None else ("line",)))

    @property
    def rows(self) -> list[tuple]:
        """The same rows as tuples (for COPY and the paths that need them)."""
        digests = [[blob[i * width:(i + 1) * width] for i in range(self.count)]
                   for width, blob in self.digests.values()]
        decoded = json.loads(self.values)
        if len(self.value_columns) == 1:
            decoded = [[None if value == "" else value] for value in decoded]
        stored = [[(canonical_json(v) if v else None) if isinstance(v, dict) else v for v in row]
                  for row in decoded]
        lines = [()] * self.count if self.first_line is None else [(self.first_line + i + 1,) for i in range(self.count)]
        return [(*(column[i] for column in digests), *stored[i], *lines[i]) for i in range(self.count)]


def records_as_rows(records: Iterable[EntryRecord], default_scheme: str | None = None) -> Iterator[RowBatch]:
    """Records as `RowBatch`es of up to IMPORT_BATCH_ROWS rows: the one conversion, for the loader and for fast readers'
    fallbacks (lines they cannot take in bulk go through their record reader and come back here)."""
    iterator = iter(records)
    while batch := list(islice(iterator, IMPORT_BATCH_ROWS)):
        yield _rows(batch, default_scheme)


def _rows(batch: list[EntryRecord], default_scheme: str | None) -> RowBatch:
    """A batch of records as rows holding only the columns some record fills.

    An MD5 list then binds 3 values per row instead of 22, which is most of the insert's cost. Built column by
    column (C-level comprehensions and `list.count`) because a per-record Python loop is the other half of it.
    Hex becomes bytes, lists and dicts JSON, and a categorised record without its own scheme gets the set's.
    """
    size = len(batch)
    names: list[str] = []
    columns: list[list[Any]] = []
    for name in RECORD_FIELDS:
        values = list(map(_GETTERS[name], batch))
        if name == "category_scheme":
            categories = list(map(_GETTERS["category"], batch))
            if default_scheme:
                values = [v or (default_scheme if c is not None else None) for v, c in zip(values, categories)]
        if values.count(None) == size:
            continue
        if name in _HEX_COLUMNS:
            values = [bytes.fromhex(v) if v else None for v in values]
        elif name == "tags":
            if not any(values):
                continue
            values = [json.dumps(v, ensure_ascii=False) if v else None for v in values]
        elif name == "attributes":
            if not any(values):
                continue
            values = [canonical_json(v) if v else None for v in values]
        names.append(name)
        columns.append(values)
    videos = list(map(_GETTERS["vpdq"], batch))
    if videos.count(None) != size and any(identities := _video_identities(batch, videos)):
        names.append("vpdq_sha256")
        columns.append(identities)
    return RowBatch(tuple(names), list(zip(*columns)))


def _video_identities(batch: list[EntryRecord], videos: list[Any]) -> list[bytes | None]:
    """`vpdq_sha256` of each record: the digest of its frames when they are all it has (no md5, sha1, sha256 or
    pdq), else None, so that the frames never split an identity the digests make (schema.DIGEST_COLUMNS)."""
    from hashwarden.signals.vpdq import frames_sha256  # numpy and the PDQ engine: only for lists with videos

    return [frames_sha256(frames) if frames and not (r.md5 or r.sha1 or r.sha256 or r.pdq) else None
            for r, frames in zip(batch, videos)]
