"""Importing a list file into the store and exporting a set to a list file (a scan case: `report.vics_cases`).

The CLI calls these; they tie a format's reader or writer to the store's bulk loader and the audit log, and
keep the file's SHA-256 with the import (hashed as it is read, so the file is read once) — which file, bit for
bit, an entry came from is what provenance means to a court.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from hashwarden.errors import FormatError, StoreError
from hashwarden.formats import FORMATS, ReadReport, reader, row_reader, writer
from hashwarden.formats.nsrl import is_delta_script
from hashwarden.formats.nsrl.delta import read_delta
from hashwarden.formats.nsrl.untrusted_sqlite import SQLITE_MAGIC
from hashwarden.store import audit
from hashwarden.store.delta import apply_delta
from hashwarden.store.hashsets import adopt_category_scheme, count_entries, create_set, get_set, iter_entries
from hashwarden.store.series import with_links
from hashwarden.store.import_run import finish_import, highest_entry_id, record_import, start_import
from hashwarden.store.loader import add_rows, journal_for, load
from hashwarden.store.records import EntryRecord, ImportResult

# The kind a set gets when an import creates it: NSRL lists known software (the known-file filter).
DEFAULT_KIND = {"nsrl": "ignorable"}
SOURCE = {"nsrl": "NSRL", "vics": "VICS", "icse": "ICSE"}


class HashingReader:
    """A binary file wrapper that SHA-256s every byte handed to the reader, so hashing costs no second read."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None = None) -> None:
        self._raw = raw
        self._sha256 = hashlib.sha256()
        self._rest: threading.Thread | None = None
        self._on_bytes = on_bytes  # progress: how many bytes each read handed over

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._sha256.update(data)
        if self._on_bytes:
            self._on_bytes(len(data))
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._raw.readline(size)
        self._sha256.update(data)
        if self._on_bytes:
            self._on_bytes(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        """Lines split at b"\n" only (as iterating a binary file does), read and hashed 1 MiB at a time: a
        per-line `readline` and hash update cost as much as parsing the line."""
        rest = b""
        while chunk := self.read(1 << 20):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line + b"\n"
        if rest:
            yield rest

    def readable(self) -> bool:
        return True

    def finish(self) -> str:
        """Hash what the reader left unread (e.g. a reader that opened the file by path) and return the digest."""
        if self._rest is not None:
            self._rest.join()
        while self.read(1 << 20):
            pass
        return self._sha256.hexdigest()

    def finish_in_background(self) -> None:
        """Start hashing what is left in a thread (hashlib releases the GIL), for `finish` to collect: an RDSv3
        SQLite is read by path, so its 2 GB are hashed here, meanwhile SQLite builds the indexes (~1.5 s less)."""
        self._rest = threading.Thread(target=self._read_rest, daemon=True)
        self._rest.start()

    def _read_rest(self) -> None:
        try:
            while self.read(1 << 20):
                pass
        except OSError:  # `finish` reads on and raises it where it can be reported
            pass


class _HashingWriter:
    """The export side of the same idea: the digest of what was written, without reading the file back."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self._raw.write(data)


def import_file(
    engine: Any, fmt: str, path: str | os.PathLike[str], set_name: str, *,
    kind: str | None = None, scheme: str | None = None, source: str | None = None,
    options: dict[str, Any] | None = None, progress: Callable[[int], None] | None = None,
) -> tuple[ImportResult, ReadReport]:
    """Import one list file into `set_name`, creating the set when missing, all in one transaction.

    `options` go to the format's reader (e.g. `scheme` for VICS); `progress` is told how many bytes of the file
    each read took (a progress bar's advance; an RDSv3 SQLite file is read by SQLite and reports at the end). An NSRL delta `.sql` script is applied to the
    set (inserts, deletes, updates) rather than read as a list.

    Raises:
        FormatError: unknown format, unreadable or malformed file (nothing is imported, no set is created).
        StoreError: the set exists with another kind than `kind` asks.
    """
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r} (one of {', '.join(sorted(FORMATS))})")
    name = os.fspath(path)
    raw = open_list_file(path)
    report = ReadReport()
    file = os.path.abspath(name)
    with raw, engine.connect() as conn, journal_for(conn, os.fstat(raw.fileno()).st_size), conn.begin():
        target = _set_for_import(conn, set_name, fmt, kind, scheme, source, report)
        hashed = HashingReader(raw, progress)
        head = raw.peek(64)[:64]  # not consumed: the reader (and the digest) still see every byte
        if fmt == "nsrl" and is_delta_script(head):
            ops = read_delta(hashed, name, report)
            result = apply_delta(conn, target, ops, file=file, warnings=report.warnings, ignored=report.dropped)
        elif (fast := row_reader(fmt)) is not None and not options and (
                fmt != "nsrl" or head.startswith(SQLITE_MAGIC)):
            import_id = start_import(conn, target, fmt=fmt, file=file)
            above = highest_entry_id(conn)
            rows, added = add_rows(conn, target, import_id, _hashing_rest_after(fast(hashed, name, report), hashed))
            result = finish_import(conn, import_id, rows, added, entries_above=above)
        else:
            records = reader(fmt)(hashed, name, report, **(options or {}))
            if fmt in CHECKED_CATEGORIES and (scheme or target.category_scheme):
                records = _in_scheme(records, scheme or target.category_scheme, name)
            result = load(conn, target, records, fmt=fmt, file=file)
        adopt_category_scheme(conn, target, report.meta.get("category_scheme"))
        record_import(conn, set_name, result, fmt=fmt, file=file, file_sha256=hashed.finish(),
                      details=report.to_json())
    return result, report


def open_list_file(path: str | os.PathLike[str]) -> Any:
    """A list file opened for reading (binary, buffered: readers `peek` at its head).

    Raises:
        FormatError: it cannot be read, naming the file and why.
    """
    try:
        return open(path, "rb")
    except OSError as exc:
        raise FormatError(f"cannot read ({exc.strerror})", os.fspath(path)) from exc


# Formats whose records carry a category code that we check against the set's scheme (VICS checks its own).
CHECKED_CATEGORIES = frozenset({"hashes"})


def _in_scheme(records: Iterator[EntryRecord], scheme_name: str, path: str) -> Iterator[EntryRecord]:
    """The records, each category checked against a closed scheme: a code the scheme does not have would be a
    category nobody can read (or the wrong scheme for the whole list), so it is refused, naming the line."""
    from hashwarden.formats.categories import load_profile

    profile = load_profile()
    scheme = profile.scheme(scheme_name)
    for record in records:
        code = record.category
        if code is not None and not scheme.knows(code):
            others = profile.schemes_with(code)
            hint = f" (the code exists in {', '.join(others)})" if others else ""
            raise FormatError(f"category {code!r} is not a code of scheme {scheme_name!r}{hint}", path,
                              record.line, field="category")
        yield record


def _set_for_import(conn: Any, set_name: str, fmt: str, kind: str | None, scheme: str | None,
                    source: str | None, report: ReadReport) -> Any:
    if scheme:
        from hashwarden.formats.categories import load_profile

        load_profile().scheme(scheme)  # an unknown scheme name is refused, not stored
    try:
        target = get_set(conn, set_name)
    except StoreError:
        created = create_set(conn, set_name, kind or DEFAULT_KIND.get(fmt, "alert"),
                             source or SOURCE.get(fmt, "local"), category_scheme=scheme)
        report.meta["created_set"] = {"name": created.name, "kind": created.kind,
                                      "category_scheme": created.category_scheme}
        return created
    if kind and target.kind != kind:
        raise StoreError(f"hash set {set_name!r} is {target.kind}, not {kind}")
    return target


def _hashing_rest_after(batches: Iterator[Any], hashed: HashingReader) -> Iterator[Any]:
    """The batches; once the reader is done with the file, the rest of it is hashed in the background."""
    yield from batches
    hashed.finish_in_background()


def export_set(engine: Any, fmt: str, set_name: str, out: str | os.PathLike[str], progress: Any = None,
               **options: Any) -> int:
    """Write every entry of `set_name` to `out` in format `fmt`; the export is recorded in the audit log. Entries
    carry the series and victim flags their media's links add (store/series.py).

    The file is written beside its final name and renamed into place, so a failed export leaves no half file.
    `progress` (the scan's Progress protocol) is told the set's size, then each entry written.
    """
    write = writer(fmt)
    with engine.begin() as conn:
        target = get_set(conn, set_name)
        entries: Any = with_links(conn, iter_entries(conn, target.id, frames=FORMATS[fmt].frames))
        if progress:
            entries = _advancing(entries, progress, conn, target.id)
        if fmt == "vics":
            options = _vics_region_of(target, out, options)
            entries = with_set_scheme(entries, target.category_scheme)
        try:
            count, digest = write_atomically(out, lambda fp: write(entries, fp, **options))
        except FormatError as exc:
            if not exc.path:  # a writer numbers the record at fault; the file is the output
                exc.path = os.fspath(out) + (f", record {exc.line}" if exc.line is not None else "")
                exc.line = None
            raise
        audit.append(conn, "export", {"set": set_name, "format": fmt, "file": shown_in_audit(out),
                                      "entries": count, "file_sha256": digest, **options})
    return count


def _advancing(entries: Iterator[EntryRecord], progress: Any, conn: Any, set_id: int) -> Iterator[EntryRecord]:
    progress.phase("exporting (entries)", count_entries(conn, set_id))
    for record in entries:
        yield record
        progress.advance()


def _vics_region_of(target: Any, out: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The export options with the region the set's own category scheme is written in, when none was asked: a set
    graded under vics-us written as `Default` would change what every code means.

    Raises:
        FormatError: the set's scheme has no VICS region of that version (naming the output file).
    """
    if options.get("region") is not None:
        return options
    version = options.get("version", "2.0")
    scheme = target.category_scheme
    region = vics_region(scheme, version)
    if region is None:
        raise FormatError(f"hash set {target.name!r} is graded under {scheme!r}, which no VICS {version} region "
                          "carries: its categories cannot be written as VICS", os.fspath(out))
    return {**options, "region": region}


def vics_region(scheme: str | None, version: str = "2.0") -> str | None:
    """The VICS region a set graded under `scheme` is written in ("Default" for an ungraded set), or None when no
    region of `version` carries the scheme (its codes would mean something else there)."""
    from hashwarden.formats.categories import load_profile

    if not scheme:
        return "Default"
    region = load_profile().vics_region(version, scheme)
    return None if region is None else region or "Default"


def with_set_scheme(entries: Iterator[EntryRecord], scheme: str | None) -> Iterator[EntryRecord]:
    """Entries with the set's scheme made explicit, so a writer can refuse a region that would relabel them."""
    for record in entries:
        if record.category is not None and record.category_scheme is None and scheme:
            record.category_scheme = scheme
        yield record


def shown_in_audit(out: str | os.PathLike[str]) -> str:
    """The output as the audit log records it."""
    return "<standard output>" if os.fspath(out) == "-" else os.path.abspath(out)


def write_atomically(out: str | os.PathLike[str], write: Callable[[BinaryIO], int]) -> tuple[int, str]:
    """(count, SHA-256 of the bytes written) of `write` run on a file renamed into place only when complete;
    `-` is standard output (a pipe: written as it comes)."""
    if os.fspath(out) == "-":
        import sys

        hashing = _HashingWriter(sys.stdout.buffer)
        count = write(hashing)
        sys.stdout.buffer.flush()
        return count, hashing.sha256.hexdigest()
    temporary = f"{os.fspath(out)}.part"
    try:
        with open(temporary, "wb") as fp:
            hashing = _HashingWriter(fp)
            count = write(hashing)
        os.replace(temporary, out)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return count, hashing.sha256.hexdigest()
