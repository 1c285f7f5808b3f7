"""Streaming JSON for the importers: ijson's C (yajl2) coroutines fed in fixed chunks, plus what an analyst needs
when a multi-gigabyte list is broken: the exact byte where it broke, the last complete record, and the field.

Why coroutines fed by hand rather than `ijson.items(fp)`: feeding our own chunks tells us, at no per-record cost,
in which chunk each record completed. That is enough to (a) refuse a runaway value before yajl buffers it all (no
record completed in `MAX_JSON_RECORD_BYTES`: a 100 MB "Comments" string is refused after 32 MiB, not held in memory),
and (b) on an error, replay the file once and feed only two chunks byte by byte, which gives exact offsets without
slowing the normal path. The replay (`locate`) is the error path only.

Nesting is counted on the raw bytes before yajl sees them (`DepthGuard`): ijson's memory grows with the square of
the depth, so a document deeper than `MAX_JSON_DEPTH` is refused at its byte instead.

Readers of the same file at two positions (the VICS `#Cases` reader runs a structure pass ahead of the record pass)
are safe: each generator seeks to its own position before every read.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import ijson
from ijson.utils import sendable_list

from hashwarden.config import MAX_JSON_DEPTH, MAX_JSON_RECORD_BYTES

# The limits are settings (config.py, with their reasons); the chunk sizes are how this reader feeds yajl.
CHUNK = 64 * 1024
# yajl re-scans a partial token on every chunk, so a long value fed in fixed chunks costs time quadratic in its
# length (32 MiB in 64 KiB chunks: seconds). After GROW_AFTER bytes with no record completed, chunks double.
GROW_AFTER = 1024 * 1024
MAX_CHUNK = 4 * 1024 * 1024


def next_size(size: int, pos: int, idle: int) -> int:
    """The next chunk's size: CHUNK while records keep completing, doubling (to MAX_CHUNK) inside a long value.

    A pure function of where records completed, so `locate` replays exactly the chunks of the first pass.
    """
    return CHUNK if pos - idle < GROW_AFTER else min(size * 2, MAX_CHUNK)


class Broken(Exception):
    """The JSON is malformed or truncated in the chunk [base, end) (at EOF when `at_eof`)."""

    def __init__(self, base: int, end: int, at_eof: bool, reason: str) -> None:
        super().__init__(reason)
        self.base = base
        self.end = end
        self.at_eof = at_eof
        self.reason = reason


class TooLarge(Exception):
    """No record completed within the byte limit; [base, end) is the chunk where the limit was crossed."""

    def __init__(self, base: int, end: int) -> None:
        super().__init__(base)
        self.base = base
        self.end = end


@dataclass
class Progress:
    """Where the last record completed, kept per chunk (cheap), so an error can be located exactly later."""

    start: int
    records: int = 0  # records completed so far
    chunk: int = -1  # file offset of the chunk in which the last record completed (-1: none yet)
    before: int = 0  # records completed before that chunk
    idle: int = -1  # offset from which no record completed (end of that chunk, or start)

    def __post_init__(self) -> None:
        if self.idle < 0:
            self.idle = self.start

    def completed(self, base: int, end: int, count: int) -> None:
        """`count` records completed in the chunk [base, end)."""
        self.before = self.records
        self.records += count
        self.chunk = base
        self.idle = end


class TooDeep(Exception):
    """The JSON nests deeper than the limit at byte `offset` (of the file, or of the line for `check_depth`)."""

    def __init__(self, offset: int, limit: int) -> None:
        super().__init__(offset)
        self.offset = offset
        self.limit = limit

    def message(self) -> str:
        return (f"the JSON nests more than {self.limit} levels deep (no hash-list record comes near that); "
                "refused before parsing it")


_QUOTES_AND_BRACKETS = b'"[]{}'
_OTHER_BYTES = bytes(b for b in range(256) if b not in _QUOTES_AND_BRACKETS)


class DepthGuard:
    """Counts JSON nesting over consecutive pieces of one document, outside strings, without parsing it.

    Done with a few whole-piece byte operations (a regular expression over strings ran at a third of yajl's
    speed): when the piece has a backslash before a quote, escaped backslashes, then escaped quotes, are deleted
    (pairs replaced from the left, as a JSON reader pairs them); only quotes and brackets are kept; adjacent
    quotes are dropped (an empty string, or the gap between two strings: either way no bracket changes side);
    what quotes remain (brackets inside names) split the rest into inside and outside. The running depth is
    summed in NumPy only when a piece opens enough brackets to matter.
    A malformed document is yajl's to report; on whatever yajl accepts, the count is exact.
    """

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        self.limit = limit
        self.depth = 0
        self.in_string = False
        self.escape = False  # the previous piece ended on a backslash inside a string

    def feed(self, data: bytes, base: int = 0) -> None:
        """Account for `data`, which starts at offset `base` of the document.

        Raises:
            TooDeep: the nesting passes the limit inside `data` (the offset is exact).
        """
        start = (self.depth, self.in_string, self.escape)
        text = b"\\" + data if self.escape else data
        if b'\\"' in text:  # an escaped quote, or an escaped backslash before a closing quote
            text = text.replace(b"\\\\", b"")
            self.escape = text.endswith(b"\\")
            text = text.replace(b'\\"', b"")
        else:  # every quote is real: only an odd run of backslashes at the end matters
            self.escape = (len(text) - len(text.rstrip(b"\\"))) % 2 == 1
        marks = text.translate(None, _OTHER_BYTES)
        if self.in_string:
            marks = b'"' + marks
        marks = marks.replace(b'""', b"")
        if b'"' in marks:
            parts = marks.split(b'"')
            self.in_string = len(parts) % 2 == 0
            marks = b"".join(parts[::2])
        else:
            self.in_string = False
        opens = marks.count(b"[") + marks.count(b"{")
        if self.depth + opens > self.limit:  # rare (nesting near the limit): NumPy is loaded for it alone
            import numpy as np

            steps = (np.frombuffer(marks, np.uint8) >> 1 & 1).astype(np.int32) * 2 - 1  # [{ have bit 1, ]} not
            if self.depth + int(np.cumsum(steps).max()) > self.limit:
                self.depth, self.in_string, self.escape = start
                raise TooDeep(base + self._offset(data), self.limit)
        self.depth += 2 * opens - len(marks)

    def _offset(self, data: bytes) -> int:
        """Where in `data` the limit is passed: one careful pass, on the error path only."""
        depth, in_string, escape = self.depth, self.in_string, self.escape
        for index, char in enumerate(data.decode("latin-1")):
            if in_string:
                if escape:
                    escape = False
                elif char == "\\":
                    escape = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
                if depth > self.limit:
                    return index
            elif char in "]}":
                depth -= 1
        return len(data)


def check_depth(text: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse one complete JSON text nesting deeper than `limit` (a JSON line, before `json.loads`).

    Raises:
        TooDeep: with the offset of the byte, in `text` as UTF-8, where the limit is passed.
    """
    if text.count("[") + text.count("{") > limit:  # otherwise it cannot be deeper: the usual hash line
        DepthGuard(limit).feed(text.encode("utf-8", "surrogatepass"))


def yajl_reason(exc: BaseException) -> str:
    """The first line of a yajl error (some arrive as the repr of bytes)."""
    text = str(exc)
    if text[:2] in ("b'", 'b"'):
        try:
            text = ast.literal_eval(text).decode("utf-8", "replace")
        except (ValueError, SyntaxError):
            pass
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _read_at(fp: BinaryIO, pos: int, size: int) -> bytes:
    if fp.tell() != pos:
        fp.seek(pos)
    return fp.read(size)


class _ChunkReader:
    """The file as ijson's C generator sees it: reads at our own position and of our own size, each remembered.

    ijson yields every item of a chunk before it reads the next, so when an item comes out, `base` is the chunk it
    completed in. `read` also enforces the limits: nothing completed in `limit` bytes stops the parse, and so does
    nesting deeper than `MAX_JSON_DEPTH` (before yajl sees the chunk).
    """

    def __init__(self, fp: BinaryIO, start: int, progress: Progress, limit: int) -> None:
        self.fp = fp
        self.pos = self.base = start
        self.size = CHUNK
        self.eof = False
        self.progress = progress
        self.limit = limit
        self.guard = DepthGuard()

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self.pos - self.progress.idle > self.limit:
            raise TooLarge(self.base, self.pos)
        self.size = next_size(self.size, self.pos, self.progress.idle)
        data = _read_at(self.fp, self.pos, self.size)
        self.guard.feed(data, self.pos)
        self.base, self.pos = self.pos, self.pos + len(data)
        self.eof = not data
        return data


class GuardedReader:
    """A file for `ijson.parse` that refuses nesting deeper than `MAX_JSON_DEPTH` before ijson reads it."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.pos = 0
        self.guard = DepthGuard()

    def read(self, size: int = -1) -> bytes:
        data = self.fp.read(size)
        self.guard.feed(data, self.pos)
        self.pos += len(data)
        return data


def items(fp: BinaryIO, start: int, prefix: str, progress: Progress,
          limit: int = MAX_JSON_RECORD_BYTES) -> Iterator[Any]:
    """Yield each JSON value at `prefix` (ijson syntax, e.g. `value.item`), reading from byte `start` to EOF.

    Raises:
        Broken: malformed or truncated JSON.
        TooLarge: nothing completed at `prefix` within `limit` bytes.
        TooDeep: nesting deeper than `MAX_JSON_DEPTH`.
    """
    reader = _ChunkReader(fp, start, progress, limit)
    try:
        for value in ijson.items(reader, prefix, use_float=True, buf_size=CHUNK):
            if reader.base != progress.chunk:
                progress.before = progress.records
                progress.chunk = reader.base
                progress.idle = reader.pos
            progress.records += 1
            yield value
    except ijson.JSONError as exc:
        raise Broken(reader.base, reader.pos, reader.eof, yajl_reason(exc)) from exc


def events(fp: BinaryIO, start: int, progress: Progress) -> Iterator[tuple[int, int, list[tuple[str, str, Any]]]]:
    """Yield (chunk offset, chunk end, the chunk's parse events) from byte `start` to EOF.

    The consumer records completed records in `progress` before asking for the next chunk: chunk sizes follow it.

    Raises:
        Broken: malformed or truncated JSON.
        TooDeep: nesting deeper than `MAX_JSON_DEPTH`.
    """
    sink = sendable_list()
    coro = ijson.parse_coro(sink, use_float=True)
    guard = DepthGuard()
    pos = start
    size = CHUNK
    while True:
        size = next_size(size, pos, progress.idle)
        chunk = _read_at(fp, pos, size)
        if not chunk:
            break
        guard.feed(chunk, pos)
        base, pos = pos, pos + len(chunk)
        try:
            coro.send(chunk)
        except ijson.JSONError as exc:
            raise Broken(base, pos, False, yajl_reason(exc)) from exc
        batch = list(sink)
        sink.clear()
        yield base, pos, batch
    try:
        coro.close()
    except ijson.JSONError as exc:
        raise Broken(pos, pos, True, yajl_reason(exc)) from exc
    if sink:
        yield pos, pos, list(sink)


@dataclass
class Location:
    """Where a stream broke: complete records before it, the end of the last one, the break, and the field."""

    records: int
    last_end: int | None  # byte just past the last complete record (None: none, or not exactly known)
    offset: int  # the byte where parsing failed (EOF for a truncated file), or where the limit was crossed
    field: str | None  # the field being read, relative to the record ("MD5", "MediaFiles[].FilePath")
    reason: str | None = None


def field_name(prefix: str, key: str, record_prefix: str) -> str:
    """A readable path for key `key` under ijson prefix `prefix`, relative to the record when inside one."""
    full = f"{prefix}.{key}" if prefix else key
    if full.startswith(record_prefix + "."):
        full = full[len(record_prefix) + 1:]
    out = ""
    for part in full.split("."):
        out += "[]" if part == "item" else (f".{part}" if out else part)
    return out


def locate(fp: BinaryIO, progress: Progress, record_prefix: str, fail: Broken | TooLarge) -> Location:
    """Replay the file to find exact offsets for an error raised by `items` or `events` (the error path only).

    The replay reads the same chunks as the first pass (`next_size`). It feeds them whole up to the chunk where
    the last record completed, byte by byte through that chunk (the exact end of that record), whole again up to
    the failing chunk, and byte by byte through it (the failing byte). So it costs one more read of the file plus
    two chunks of single-byte sends.
    """
    sink = sendable_list()
    coro = ijson.parse_coro(sink, use_float=True)
    end_of_record = (record_prefix, "end_map", None)
    pos = idle = progress.start
    size = CHUNK
    records = progress.before if progress.chunk >= 0 else 0
    last_end: int | None = None
    field: str | None = None
    byte_wise = {progress.chunk, fail.base} if isinstance(fail, Broken) else {progress.chunk}
    stop = None if isinstance(fail, Broken) and fail.at_eof else fail.end

    def take(at: int | None) -> bool:
        nonlocal records, last_end, field
        done = False
        for prefix, event, value in sink:
            if event == "end_map" and prefix == record_prefix:
                records += 1
                last_end = at
                field = None
                done = True
            elif event == "map_key":
                field = field_name(prefix, value, record_prefix)
        sink.clear()
        return done

    try:
        while stop is None or pos < stop:
            size = next_size(size, pos, idle)
            chunk = _read_at(fp, pos, size)
            if not chunk:
                break
            done = False
            if pos < progress.chunk:
                coro.send(chunk)
                done = end_of_record in sink
                sink.clear()
            elif pos in byte_wise:
                for i in range(len(chunk)):
                    try:
                        coro.send(chunk[i:i + 1])
                    except ijson.JSONError as exc:
                        take(pos + i)
                        return Location(records, last_end, pos + i, field, yajl_reason(exc))
                    if sink:
                        done = take(pos + i + 1) or done
            else:
                coro.send(chunk)
                done = take(None)
            pos += len(chunk)
            if done:
                idle = pos
        if isinstance(fail, TooLarge):
            return Location(records, last_end, fail.base, field)
        if fail.at_eof:
            coro.close()
    except ijson.JSONError as exc:
        take(None)
        return Location(records, last_end, pos, field, yajl_reason(exc))
    # The replay did not reproduce the error (the file changed underneath us): report what the first pass saw.
    return Location(records, last_end, fail.base, field, fail.reason)
