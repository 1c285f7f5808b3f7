"""A set (or the URL list) as a published list, and the delta between two published versions.

A published version is the set's entries as our JSON lines (`formats.jsonl`, videos with their vPDQ frames; series
and victim flags as their links give them, as `export hashes` writes them), gzip-compressed. A delta names whole
lines: `{"op": "remove", ...}` for each line of the old version not in the new, then `{"op": "add", ...}` for each
line of the new not in the old; a changed entry (a category regraded) is a removal and an addition. Lines are told
apart by a 128-bit BLAKE2b of their bytes, held in NumPy arrays (16 bytes a line: 160 MB for 10M entries), never
as Python objects. The generic parts (`write_lines`, `line_digests`, `write_delta`, `read_ops`) know only gzip
JSON-object lines; `url_lists.py` uses them for the URL list.
"""

from __future__ import annotations

import contextlib
import gzip
from concurrent.futures import Executor, Future
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from hashwarden.config import TUF_GZIP_LEVEL
from hashwarden.errors import DistributionError, FormatError
from hashwarden.formats.jsonl import line_of, object_lines, parse_vpdq, record_of
from hashwarden.store.records import EntryRecord

if TYPE_CHECKING:  # NumPy compares a publisher's lists; a subscriber, which only reads them, never loads it
    import numpy as np

_DIGEST_BYTES = 16
_CHUNK_LINES = 4096
Item = TypeVar("Item")


@dataclass(frozen=True)
class WrittenList:
    """What was written: entries, the SHA-256 of the uncompressed lines (the version's content: unchanged lines,
    no new version), and each line's digest."""

    entries: int
    content_sha256: str
    digests: np.ndarray


def write_list(records: Iterator[EntryRecord], path: Path,
               plain: dict[Path, Callable[[list[EntryRecord], BinaryIO], int]] | None = None) -> WrittenList:
    """Write the records' lines to `path` (gzip), and beside it each `plain` file by its format's writer
    (`formats.md5sum.write`, `formats.pdqlist.write`): lists a subscriber without hashwarden reads with `zcat`."""
    return write_lines(records, path, lambda record: line_of(record).encode("utf-8", "backslashreplace"), plain)


def write_lines(items: Iterable[Item], path: Path, encode: Callable[[Item], bytes],
                plain: dict[Path, Callable[[list[Item], BinaryIO], Any]] | None = None) -> WrittenList:
    """Write each item as its line (`encode`: one JSON object and its newline) to `path` (gzip, deterministic: no
    time or name in the header), and beside it, in the same pass, each `plain` file (gzip) by its writer fed the
    items a chunk at a time; a writer with a `finish(fp)` (a document with a header and an end, VICS) is told the
    end."""
    content = hashlib.sha256()
    digests = bytearray()
    count = 0
    with contextlib.ExitStack() as files:
        fp = files.enter_context(_gzip_writer(path))
        others = [(files.enter_context(_gzip_writer(other)), write) for other, write in (plain or {}).items()]
        chunk: list[bytes] = []
        held: list[Item] = []
        for item in items:
            line = encode(item)
            content.update(line)
            digests += hashlib.blake2b(line, digest_size=_DIGEST_BYTES).digest()
            chunk.append(line)
            held.append(item)
            count += 1
            if len(chunk) >= _CHUNK_LINES:
                _flush(fp, chunk, others, held)
        _flush(fp, chunk, others, held)
        for other, write in others:
            finish = getattr(write, "finish", None)
            if finish is not None:
                finish(other)
    return WrittenList(count, content.hexdigest(), _as_array(digests))


def _flush(fp: BinaryIO, chunk: list[bytes], others: list[tuple[BinaryIO, Callable[..., Any]]],
           held: list[Any]) -> None:
    fp.write(b"".join(chunk))
    for other, write in others:
        write(held, other)
    chunk.clear()
    held.clear()


@contextlib.contextmanager
def _gzip_writer(path: Path) -> Iterator[BinaryIO]:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=TUF_GZIP_LEVEL, mtime=0,
                                                filename="") as fp:
        yield fp  # type: ignore[misc]


def line_digests(path: Path) -> np.ndarray:
    """The digest of every line of a published list."""
    digests = bytearray()
    for line in _lines(path):
        digests += hashlib.blake2b(line, digest_size=_DIGEST_BYTES).digest()
    return _as_array(digests)


def write_delta(old: Path, old_digests: np.ndarray, new: Path, new_digests: np.ndarray, path: Path) -> tuple[int, int]:
    """Write the delta from list `old` to list `new`; return (removed, added)."""
    import numpy as np

    removed = ~np.isin(old_digests, new_digests)
    added = ~np.isin(new_digests, old_digests)
    with _gzip_writer(path) as fp:
        for source, keep, op in ((old, removed, b'{"op":"remove",'), (new, added, b'{"op":"add",')):
            if not keep.any():
                continue
            for line, wanted in zip(_lines(source), keep):
                if wanted:  # every line is an object with at least one hash: `{"op":...,` + the rest of it
                    fp.write(op + line[1:])
    return int(removed.sum()), int(added.sum())


def _lines(path: Path) -> Iterator[bytes]:
    with gzip.open(path, "rb") as fp:
        yield from fp


def _as_array(digests: bytearray) -> np.ndarray:
    import numpy as np

    return np.frombuffer(bytes(digests), dtype=f"V{_DIGEST_BYTES}")


def read_list(path: Path, shown: str) -> Iterator[EntryRecord]:
    """The records of a downloaded (verified) full snapshot; `shown` names it in errors.

    Raises:
        DistributionError: a line is not a valid entry (a publisher's bug: the file matched its signed hash).
    """
    for _op, record in _ops(path, shown, delta=False):
        yield record


def read_delta(path: Path, shown: str, ahead: Executor | None = None
               ) -> tuple[list[EntryRecord], Iterable[EntryRecord]]:
    """(removed, added) records of a downloaded (verified) delta, which lists its removals first (`write_delta`).

    With `ahead`, the removals are read now and the additions in `ahead`'s thread while the caller applies the
    removals (statements that release the GIL): the added records come when iterated, and a line that fails
    raises then. A removal after an addition is refused (no delta is written so)."""
    ops = _ops(path, shown, delta=True)
    removed: list[EntryRecord] = []
    first: EntryRecord | None = None
    for op, record in ops:
        if op == "add":
            first = record
            break
        removed.append(record)

    def additions() -> list[EntryRecord]:
        added = [] if first is None else [first]
        for op, record in ops:
            if op == "remove":
                raise DistributionError(f"published list {shown}:{record.line}: a removal after the additions (a "
                                        "delta lists its removals first)")
            added.append(record)
        return added

    if ahead is None:
        return removed, additions()
    return removed, _Later(ahead.submit(additions))


class _Later:
    """Records a thread is still reading: iterating waits for them (and raises what the reading raised)."""

    def __init__(self, future: Future[list[EntryRecord]]) -> None:
        self._future = future

    def __iter__(self) -> Iterator[EntryRecord]:
        return iter(self._future.result())


def _ops(path: Path, shown: str, delta: bool) -> Iterator[tuple[str, EntryRecord]]:
    for op, obj, number in read_ops(path, shown, delta):
        try:
            yield op, (_removal(obj, shown, number) if op == "remove" else record_of(obj, shown, number))
        except FormatError as exc:
            raise DistributionError(f"published list {exc}") from exc


def read_ops(path: Path, shown: str, delta: bool) -> Iterator[tuple[str, dict[str, Any], int]]:
    """(op, object without its op, line number) of each line of a downloaded (verified) list: "add" for every line
    of a full list, a delta's own op for a delta's.

    Raises:
        DistributionError: not gzip, a line that is not a JSON object, or an op neither add nor remove.
    """
    try:
        with gzip.open(path, "rb") as fp:
            for number, obj in object_lines(fp, shown):
                op = obj.pop("op", None) if delta else "add"
                if op not in ("add", "remove"):
                    raise FormatError(f"op must be add or remove, not {op!r}", shown, number)
                yield op, obj, number
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DistributionError(f"{shown} is not a readable gzip file ({exc})") from exc
    except FormatError as exc:
        raise DistributionError(f"published list {exc}") from exc


def _removal(obj: dict[str, Any], shown: str, number: int) -> EntryRecord:
    """A removal's identity only (its hashes, a video's frames when it has none), not checked as an addition is:
    a value that is no stored entry's is refused anyway (the set must hold what a delta removes), and half of a
    delta's lines cost half as much (bench/distribution.py)."""
    get = obj.get
    md5, sha1, sha256, pdq = get("md5"), get("sha1"), get("sha256"), get("pdq")
    if not all(value is None or type(value) is str for value in (md5, sha1, sha256, pdq)):
        raise FormatError("hashes must be strings", shown, number)
    frames = None
    if not (md5 or sha1 or sha256 or pdq):
        try:
            frames = parse_vpdq(get("vpdq"))
        except ValueError as exc:
            raise FormatError(str(exc), shown, number) from exc
        if not frames:
            raise FormatError("a removal names no hash", shown, number)
    return EntryRecord(md5.lower() if md5 else None, sha1.lower() if sha1 else None,
                       sha256.lower() if sha256 else None, pdq.lower() if pdq else None, vpdq=frames, line=number)


def dump_json(value: Any) -> bytes:
    """A small JSON document of the repository (the index), as stored: sorted keys, indented, UTF-8."""
    return (json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
