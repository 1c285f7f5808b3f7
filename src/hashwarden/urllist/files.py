"""The URL list as files: import from CSV or JSON lines, export as CSV, JSON lines, plaintext expressions or their
SHA-256 hashes (what a subscriber without hashwarden can load).

An import row names a `url` and its `kind` (and optionally `category`, `source`, `reporter`, `evidence_sha256`,
`appeal`), or is a row of our own CSV/JSON-lines export (its `expression` read as the URL, the store's own columns
left out, removed rows skipped), so an export imports into another database as the same entries; each is derived as `url add` derives it (`entries.derive_entry`) and the whole file is added as one
version, all or nothing: a refused row names its line and nothing is added. Files are hostile input: a line longer
than `MAX_URL_LIST_LINE` bytes, or more than `MAX_URL_LIST_ROWS` rows, is refused.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from hashwarden.config import MAX_URL_LIST_LINE, MAX_URL_LIST_ROWS
from hashwarden.errors import UrlListError
from hashwarden.store.urls import UrlEntry
from hashwarden.urllist.entries import Derived, derive_entry
from hashwarden.urls import expression_hash

FIELDS = ("url", "kind", "category", "source", "reporter", "evidence_sha256", "appeal")
EXPORT_FIELDS = ("public_id", "expression", "kind", "category", "source", "reporter", "evidence_sha256", "appeal",
                 "added_at", "added_version", "removed_at", "removed_version", "removed_reason")
EXPORT_FORMATS = ("csv", "jsonl", "expressions", "sha256")


def read_entries(path: Path) -> list[tuple[int, Derived]]:
    """(line number, derived entry) of every row of a CSV (a header naming FIELDS) or JSON-lines file, by its
    extension (.csv, else JSON lines).

    Raises:
        UrlListError: the file cannot be read, or a row is refused (its line named).
    """
    try:
        with open(path, "rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
            rows = _csv_rows(text, path) if path.suffix.lower() == ".csv" else _jsonl_rows(text, path)
            return [(line, _derived(row, path, line)) for line, row in rows]
    except OSError as exc:
        raise UrlListError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UrlListError(f"{path}: not UTF-8 text (byte {exc.start})") from exc


def write_entries(entries: Iterable[UrlEntry], out: TextIO, fmt: str) -> int:
    """Write entries in `fmt` (EXPORT_FORMATS); return how many."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_FIELDS)
    for entry in entries:
        if fmt == "csv":
            writer.writerow([_cell(getattr(entry, name)) for name in EXPORT_FIELDS])
        elif fmt == "jsonl":
            out.write(json.dumps(entry.as_json(), ensure_ascii=False) + "\n")
        elif fmt == "expressions":
            out.write(entry.expression + "\n")
        elif fmt == "sha256":
            out.write(expression_hash(entry.expression).hex() + "\n")
        else:
            raise UrlListError(f"unknown export format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})")
        count += 1
    return count


def _csv_rows(text: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(_bounded_lines(text, path))
    if reader.fieldnames is None or not {"url", "expression"} & set(reader.fieldnames) \
            or "kind" not in reader.fieldnames:
        raise UrlListError(f"{path}: a CSV URL list needs a header with `url` and `kind` ({', '.join(FIELDS)})")
    unknown = set(reader.fieldnames) - set(FIELDS) - set(EXPORT_FIELDS)
    if unknown:
        raise UrlListError(f"{path}: unknown column(s) {', '.join(sorted(unknown))} (known: {', '.join(FIELDS)})")
    for number, row in enumerate(reader, start=2):
        if row.get("removed_at"):
            continue  # an export with --removed: history, not entries
        yield reader.line_num if reader.line_num else number, {k: v for k, v in row.items() if v not in (None, "")}


def _jsonl_rows(text: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(_bounded_lines(text, path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UrlListError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or set(row) - set(FIELDS) - set(EXPORT_FIELDS):
            raise UrlListError(f"{path}:{number}: a JSON object with some of {', '.join(FIELDS)} expected")
        if not row.get("removed_at"):
            yield number, row


def _bounded_lines(text: TextIO, path: Path) -> Iterator[str]:
    for number in range(1, MAX_URL_LIST_ROWS + 2):
        line = text.readline(MAX_URL_LIST_LINE + 1)
        if not line:
            return
        if len(line) > MAX_URL_LIST_LINE:
            raise UrlListError(f"{path}:{number}: line longer than {MAX_URL_LIST_LINE:,} characters")
        if number > MAX_URL_LIST_ROWS:
            raise UrlListError(f"{path}: more than {MAX_URL_LIST_ROWS:,} rows")
        yield line


def _derived(row: dict[str, Any], path: Path, line: int) -> Derived:
    """The entry of one row: `url` (or an export's `expression`, which canonicalizes to itself), `kind` and the
    optional fields; an export's other columns (ids, times, versions) are the store's and are not taken."""
    row = {name: row[name] for name in (*FIELDS, "expression") if name in row}
    if "url" not in row and isinstance(row.get("expression"), str):
        row["url"] = row.pop("expression")
    row.pop("expression", None)
    if not isinstance(row.get("url"), str) or not isinstance(row.get("kind"), str):
        raise UrlListError(f"{path}:{line}: `url` and `kind` (text) are required")
    if any(value is not None and not isinstance(value, str) for value in row.values()):
        raise UrlListError(f"{path}:{line}: every field is text")
    try:
        return derive_entry(row["url"], row["kind"], category=row.get("category"), source=row.get("source"),
                            reporter=row.get("reporter"), evidence_sha256=row.get("evidence_sha256"),
                            appeal=row.get("appeal") or "none")
    except UrlListError as exc:
        raise UrlListError(f"{path}:{line}: {exc}") from exc


def _cell(value: Any) -> str:
    """A CSV cell, a formula's first character defused as hashdeep exports do (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
