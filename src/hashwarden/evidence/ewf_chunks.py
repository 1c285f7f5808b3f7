"""Per-chunk checksum check of EWF (E01/S01) segment files, which libewf does not report through pyewf.

libewf verifies each chunk's Adler-32 while reading, but on a mismatch it hands back the damaged bytes and says
nothing that pyewf exposes, so a flipped byte shows only as a wrong image digest. An examiner needs to know *where*
the image is damaged (which files it touches), as ewfverify prints. This module walks the segment files' own
structure: the section chain, every `table` section's chunk offsets, and checks each chunk as the format defines it
(a compressed chunk is a zlib stream whose Adler-32 covers the data; a stored chunk ends with its Adler-32).

Layout (EWF version 1, see libyal's "Expert Witness Compression Format" document): a 13-byte file header
(`EVF\\x09\\x0d\\x0a\\xff\\x00`, fields byte, segment number, 2 zero bytes), then sections, each starting with a
76-byte descriptor: type (16 bytes, NUL-padded ASCII), absolute offset of the next section (u64), section size (u64),
40 bytes padding, Adler-32 of the first 72 bytes. A `table` section body holds: number of entries (u32), padding (4),
base offset (u64), padding (4), Adler-32 (u32), then one u32 per chunk: bit 31 = compressed, bits 0-30 = offset of
the chunk relative to the base offset. `table2` repeats `table` and is not counted twice. EWF2 (Ex01) is not parsed
here: its chunks are checked by libewf only.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from hashwarden.config import MAX_EWF_TABLE_ENTRIES

EWF1_SIGNATURES = (b"EVF\x09\x0d\x0a\xff\x00", b"LVF\x09\x0d\x0a\xff\x00")
_DESCRIPTOR = struct.Struct("<16sQQ40xI")
_TABLE_HEADER = struct.Struct("<I4xQ4xI")


@dataclass(frozen=True)
class ChunkError:
    """One damaged chunk (or damaged structure) and where it sits in the media."""

    media_offset: int
    length: int
    segment: str
    file_offset: int
    message: str

    def to_json(self) -> dict[str, object]:
        return {"offset": self.media_offset, "length": self.length, "segment": self.segment,
                "file_offset": self.file_offset, "message": self.message}


def is_ewf1(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8) in EWF1_SIGNATURES


def check_chunks(segments: list[str], chunk_size: int, media_size: int) -> list[ChunkError]:
    """Check every chunk of an EWF1 image made of `segments` (in order); return the damaged ones.

    Structure errors (a bad section descriptor or table) are reported too, at the media offset the next chunk
    would have had, because the chunks behind them cannot be located any more.
    """
    errors: list[ChunkError] = []
    chunk_index = 0
    for segment in segments:
        name = os.path.basename(segment)
        with open(segment, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            try:
                sections = list(_sections(handle, size))
            except ValueError as exc:
                errors.append(ChunkError(chunk_index * chunk_size, 0, name, 0, str(exc)))
                sections = []
            starts = sorted(offset for offset, _, _ in sections) + [size]
            for offset, kind, _ in sections:
                if kind != "table":
                    continue
                try:
                    entries, base = _table(handle, offset)
                except ValueError as exc:
                    errors.append(ChunkError(chunk_index * chunk_size, 0, name, offset, str(exc)))
                    continue
                for number, (start, compressed) in enumerate(entries):
                    absolute = base + start
                    if number + 1 < len(entries):
                        end = base + entries[number + 1][0]
                    else:
                        end = next(s for s in starts if s > absolute) if absolute < size else absolute
                    media_offset = chunk_index * chunk_size
                    expected = max(0, min(chunk_size, media_size - media_offset))
                    problem = _check_chunk(handle, absolute, end - absolute, compressed, expected, chunk_size)
                    if problem:
                        errors.append(ChunkError(media_offset, expected, name, absolute, problem))
                    chunk_index += 1
    if media_size and chunk_index * chunk_size < media_size:
        missing_from = chunk_index * chunk_size
        errors.append(ChunkError(missing_from, media_size - missing_from, os.path.basename(segments[-1]), 0,
                                 "chunks missing: the image ends before the media does (truncated or segment lost)"))
    return errors


def missing_parts(segments: list[str]) -> list[str]:
    """Why the segment files of an EWF1 image cannot hold all of its media, from their section chains alone (a few
    descriptor reads per file, no chunk read): a chain that breaks or runs past a file's end, or a last segment
    without its closing `done` section (the file cut short or the segments after it lost). Empty when complete.

    Why on every open: libewf opens such an image without complaint and then fails every read behind the cut, which
    TSK reports as "cannot determine file system type"; the examiner must be told the image itself is incomplete.
    """
    problems: list[str] = []
    last = ""
    for segment in segments:
        name = os.path.basename(segment)
        with open(segment, "rb") as handle:
            try:
                kinds = [kind for _, kind, _ in _sections(handle, os.fstat(handle.fileno()).st_size)]
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
                continue
        last = kinds[-1] if kinds else ""
    if not problems and last != "done":
        problems.append(f"{os.path.basename(segments[-1])}: ends without its 'done' section (segment files after "
                        "it missing or it was cut short)")
    return problems


def _sections(handle, size: int) -> Iterator[tuple[int, str, int]]:
    """Yield (offset, type, size) of each section, following the chain from the file header."""
    handle.seek(0)
    if handle.read(8) not in EWF1_SIGNATURES:
        raise ValueError("not an EWF version 1 segment file (signature)")
    offset, seen = 13, set()
    while offset < size and offset not in seen:
        seen.add(offset)
        handle.seek(offset)
        raw = handle.read(_DESCRIPTOR.size)
        if len(raw) < _DESCRIPTOR.size:
            raise ValueError(f"section descriptor at byte {offset} cut short (file truncated)")
        kind, following, length, checksum = _DESCRIPTOR.unpack(raw)
        if zlib.adler32(raw[:72]) != checksum:
            raise ValueError(f"section descriptor at byte {offset} fails its checksum")
        name = kind.rstrip(b"\0").decode("ascii", "replace")
        yield offset, name, length
        if name in ("done", "next") or following == offset:
            return
        if following <= offset:
            raise ValueError(f"section at byte {offset} points backwards to {following}")
        offset = following
    if offset >= size and offset not in seen:
        raise ValueError(f"section chain points past the end of the file (byte {offset}): file truncated")


def _table(handle, offset: int) -> tuple[list[tuple[int, bool]], int]:
    handle.seek(offset + _DESCRIPTOR.size)
    raw = handle.read(_TABLE_HEADER.size)
    if len(raw) < _TABLE_HEADER.size:
        raise ValueError(f"table at byte {offset} cut short")
    count, base, checksum = _TABLE_HEADER.unpack(raw)
    if zlib.adler32(raw[:20]) != checksum:
        raise ValueError(f"table header at byte {offset} fails its checksum")
    if count > MAX_EWF_TABLE_ENTRIES:
        raise ValueError(f"table at byte {offset} claims {count} chunks")
    data = handle.read(4 * count)
    if len(data) < 4 * count:
        raise ValueError(f"table at byte {offset} cut short")
    entries = [(value & 0x7FFFFFFF, bool(value & 0x80000000)) for (value,) in struct.iter_unpack("<I", data)]
    return entries, base


def _check_chunk(handle, offset: int, stored: int, compressed: bool, expected: int, chunk_size: int) -> str | None:
    """Return why the chunk at `offset` is damaged, or None when its checksum holds.

    The last chunk may hold a few bytes past the media size (a partial last sector), so only a chunk that inflates
    to less than the media still needs, or to more than a chunk, is wrong in length.
    """
    if stored <= 0:
        return "chunk has no stored bytes"
    handle.seek(offset)
    data = handle.read(stored)
    if len(data) < stored:
        return "chunk cut short (file truncated)"
    if compressed:
        try:
            plain = zlib.decompress(data)
        except zlib.error as exc:
            return f"compressed chunk fails to inflate or its Adler-32 ({exc})"
        if not expected <= len(plain) <= chunk_size:
            return f"compressed chunk inflates to {len(plain)} bytes, expected {expected}"
        return None
    if stored < 4:
        return "stored chunk too short for its checksum"
    if zlib.adler32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        return "stored chunk fails its Adler-32"
    return None
