"""Votes from a viewer tool's graded export: each categorised record of a VICS or ICSE file becomes one vote of the
named reviewer and agency (`hashwarden import vics|icse FILE --as-votes --reviewer R --agency A`).

An examiner grades in their approved viewer (Griffeye, XAMN, Autopsy), which exports the case as VICS (or INTERPOL's
ICSE CSV); importing that export as votes records what they decided without anyone typing it again. The file is read
by the same readers as a hash-list import, so it is held to the same checks; each vote then goes through
`cast_votes`, as one typed at the command line. All or nothing: one record that cannot be a vote (a category its
scheme does not have, no hash) refuses the whole file, naming the record; nothing is stored.

What a record gives: its hashes (md5, sha1, sha256, pdq) and category. ICSE's export as seen in the field has no
category column: a column named `Category` (any case; the reader keeps unknown columns as attributes) is read as
the category. The scheme is the one the VICS file's version and region imply (`category_scheme` of the record),
else `scheme` (ICSE has none of its own). ICSE's
`Is distributed` flag is the vote's `redistributed` (yes/no; unset: unknown); the other attributes are `unknown`, as
these formats do not carry them. A record without a category is not a vote: it is counted and left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hashwarden.errors import GradingError
from hashwarden.formats import reader
from hashwarden.formats.exchange import open_list_file
from hashwarden.grading.votes import cast_votes
from hashwarden.store.records import EntryRecord, Vote


@dataclass
class ImportedVotes:
    """What an import as votes did: the votes recorded and the records that carried no category."""

    votes: list[Vote]
    uncategorised: int


def import_votes(engine: Any, fmt: str, path: str | os.PathLike[str], reviewer: str, agency: str,
                 scheme: str | None = None, options: dict[str, Any] | None = None) -> ImportedVotes:
    """Read `path` with format `fmt`'s reader (`options` are the reader's, e.g. VICS `scheme`) and record its
    categorised records as votes (`votes_from_records`), all in one transaction; the votes' source is the format.

    Raises:
        FormatError: the file cannot be read or is malformed (named, as an import names it).
        GradingError: a record that cannot be a vote (see `votes_from_records`).
    """
    name = os.fspath(path)
    with open_list_file(path) as raw, engine.begin() as conn:
        records = reader(fmt)(raw, name, **(options or {}))
        return votes_from_records(conn, records, reviewer, agency, fmt, scheme, os.path.basename(name))


def votes_from_records(conn: Any, records: Iterable[EntryRecord], reviewer: str, agency: str, source: str,
                       scheme: str | None = None, origin: str | None = None) -> ImportedVotes:
    """Record a vote for every categorised record, in the caller's transaction (all or nothing). `origin` (the
    file's name) goes into each vote's note with the record's number, so a vote says where it came from.

    Raises:
        GradingError: a record that cannot be a vote, named by its line and the field at fault; or a category
            with no scheme to read it by (an ICSE file without `scheme`).
    """
    recorded: list[Vote] = []
    uncategorised = 0
    for number, record in enumerate(records, 1):
        category = record.category if record.category is not None else _category_column(record.attributes)
        if category is None:
            uncategorised += 1
            continue
        where = f"record {record.line if record.line is not None else number}"
        chosen = record.category_scheme or scheme
        if chosen is None:
            raise GradingError(f"{where}: category {category!r} without a scheme: give --scheme", field="scheme")
        vote = Vote(scheme=chosen, category=str(category), reviewer=reviewer, agency=agency, source=source,
                    md5=record.md5, sha1=record.sha1, sha256=record.sha256, pdq=record.pdq,
                    redistributed=_yes_no(record.is_distributed),
                    note=f"imported from {origin}, {where}" if origin else None)
        try:
            recorded += cast_votes(conn, [vote])
        except GradingError as exc:
            raise GradingError(f"{where}: {exc.args[0]}", field=exc.field) from None
    return ImportedVotes(recorded, uncategorised)


def _category_column(attributes: dict[str, Any]) -> str | None:
    for name, value in attributes.items():
        if name.strip().lower() == "category" and str(value).strip():
            return str(value).strip()
    return None


def _yes_no(flag: bool | None) -> str:
    return "unknown" if flag is None else "yes" if flag else "no"
