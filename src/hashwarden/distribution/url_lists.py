"""The URL list as a published list: one entry a line, and the plain lists beside it (issue 19).

A line is the entry's JSON object, keys sorted, unset fields left out: `public_id`, `expression`, `kind`,
`category`, `source`, `reporter`, `evidence_sha256`, `appeal`. The public id travels with the entry so a
subscriber's `url check` answers the same opaque ids as the publisher's. Never the store's own columns (times,
local versions, removal reasons): a subscriber's history is its own. Lines, digests and deltas are `lists.py`'s;
the plain lists are `urllist.files.write_entries`' formats (`sha256`, `expressions`), so the published SHA-256
list is byte for byte `url export --format sha256`.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from hashwarden.config import MAX_URL_LIST_LINE
from hashwarden.distribution.lists import WrittenList, read_ops, write_lines
from hashwarden.errors import DistributionError
from hashwarden.store.urls import APPEALS, KINDS, NewUrlEntry, UrlEntry
from hashwarden.urllist.files import write_entries

FIELDS = ("public_id", "expression", "kind", "category", "source", "reporter", "evidence_sha256", "appeal")
# The plain lists by suffix: their `url export` format, and whether only `--urls-plaintext` writes them.
PLAIN_FORMATS = {"sha256": "sha256", "txt": "expressions"}
PLAINTEXT = "txt"
_PUBLIC_ID = re.compile(r"[0-9a-f]{32}\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def url_line(entry: UrlEntry) -> bytes:
    """An entry's published line (with its newline)."""
    fields = {name: getattr(entry, name) for name in FIELDS}
    return (json.dumps({k: v for k, v in fields.items() if v is not None}, sort_keys=True, ensure_ascii=False)
            + "\n").encode("utf-8", "backslashreplace")


def write_url_list(entries: Iterable[UrlEntry], path: Path, plain: dict[str, Path]) -> WrittenList:
    """The entries as a published list at `path`, and each plain list (`PLAIN_FORMATS` suffix -> file) beside it."""
    writers = {file: _plain_writer(PLAIN_FORMATS[suffix]) for suffix, file in plain.items()}
    return write_lines(entries, path, url_line, writers)


def _plain_writer(fmt: str) -> Any:
    def write(held: list[UrlEntry], fp: BinaryIO) -> int:
        text = io.TextIOWrapper(fp, encoding="utf-8", newline="\n")  # type: ignore[arg-type]
        try:
            return write_entries(held, text, fmt)
        finally:
            text.flush()
            text.detach()
    return write


def read_url_ops(path: Path, shown: str, delta: bool) -> tuple[list[NewUrlEntry], list[NewUrlEntry]]:
    """(removed, added) entries of a downloaded (verified) URL list or delta (a full list: all added).

    Raises:
        DistributionError: a line that is no entry this hashwarden reads (a publisher's bug: the file matched its
            signed hash), naming the file and line.
    """
    removed: list[NewUrlEntry] = []
    added: list[NewUrlEntry] = []
    for op, obj, number in read_ops(path, shown, delta):
        (removed if op == "remove" else added).append(_entry_of(obj, shown, number))
    return removed, added


def _entry_of(obj: dict[str, Any], shown: str, number: int) -> NewUrlEntry:
    unknown = set(obj) - set(FIELDS)
    problem = None
    if unknown:
        problem = f"unknown field(s) {', '.join(sorted(unknown))}"
    elif not all(isinstance(obj.get(name), str) for name in ("public_id", "expression", "kind")):
        problem = "public_id, expression and kind (text) are required"
    elif not all(obj.get(name) is None or (isinstance(obj[name], str) and len(obj[name]) <= MAX_URL_LIST_LINE)
                 for name in FIELDS):
        problem = f"every field is text of at most {MAX_URL_LIST_LINE:,} characters (as `url import` takes)"
    elif not _PUBLIC_ID.match(obj["public_id"]):
        problem = "public_id is not 32 lowercase hex digits"
    elif obj["kind"] not in KINDS or obj.get("appeal", "none") not in APPEALS:
        problem = f"kind {obj['kind']!r} or appeal {obj.get('appeal')!r} unknown"
    elif obj.get("evidence_sha256") is not None and not _SHA256.match(obj["evidence_sha256"]):
        problem = "evidence_sha256 is not 64 lowercase hex digits"
    elif "/" not in obj["expression"] or "://" in obj["expression"]:
        problem = "the expression is not host/path"
    if problem:
        raise DistributionError(f"published URL list {shown}:{number}: {problem}")
    return NewUrlEntry(obj["expression"], obj["kind"], obj.get("category"), obj.get("source"), obj.get("reporter"),
                       obj.get("evidence_sha256"), obj.get("appeal", "none"), public_id=obj["public_id"])
