"""Carving: media found by signature in space no file claims (unallocated space, or a disk with no file system).

One sequential pass reads each byte of a region once, looking for the signatures of JPEG, PNG, GIF, WebP and
MP4/MOV; each hit is then measured by walking the format's own structure (JPEG segments and entropy-coded data,
PNG chunks, GIF blocks, the RIFF size, ISO-BMFF top-level boxes), so a carved item is the file, not a guess at a
fixed size. A hit whose structure does not parse is dropped: random bytes that happen to look like a header are
common in large images.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hashwarden.config import MAX_CARVE_BYTES

CHUNK = 4 << 20

ReadAt = Callable[[int, int], bytes]  # read(offset, size) within the image


@dataclass(frozen=True)
class Carved:
    """A media file found at `offset` (bytes, within the image) of `length` bytes, in format `format`."""

    offset: int
    length: int
    format: str


def _jpeg_length(read: ReadAt, start: int, limit: int) -> int | None:
    """Walk marker segments; after each start-of-scan, skip entropy-coded data to the next real marker (FF 00 is
    stuffing, FF D0-D7 restarts), so progressive JPEGs and EXIF thumbnails (whose own FF D9 sits inside APP1)
    are measured correctly."""
    position = start + 2
    while position < limit:
        marker = read(position, 4)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            position += 1
            continue
        if kind == 0xD9:
            return position + 2 - start
        if kind == 0xD8 or kind == 0x01 or 0xD0 <= kind <= 0xD7:
            position += 2
            continue
        if len(marker) < 4:
            return None
        length = struct.unpack(">H", marker[2:4])[0]
        if length < 2:
            return None
        position += 2 + length
        if kind != 0xDA:
            continue
        found = None
        while found is None and position < limit:  # entropy-coded data of this scan
            block = read(position, 1 << 16)
            if len(block) < 2:
                return None
            index = block.find(b"\xff")
            while index != -1 and index + 1 < len(block):
                following = block[index + 1]
                if following != 0x00 and not 0xD0 <= following <= 0xD7 and following != 0xFF:
                    found = position + index
                    break
                index = block.find(b"\xff", index + 1)
            if found is None:
                position += len(block) - 1  # a trailing FF is looked at again with what follows it
        if found is None:
            return None
        position = found
    return None


def _png_length(read: ReadAt, start: int, limit: int) -> int | None:
    position = start + 8
    while position < limit:
        header = read(position, 8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if not kind.isalpha() or length > MAX_CARVE_BYTES:
            return None
        position += 12 + length
        if kind == b"IEND":
            return position - start
    return None


def _gif_length(read: ReadAt, start: int, limit: int) -> int | None:
    screen = read(start + 6, 7)
    if len(screen) < 7:
        return None
    position = start + 13
    if screen[4] & 0x80:
        position += 3 * (2 << (screen[4] & 7))
    while position < limit:
        kind = read(position, 1)
        if kind == b";":
            return position + 1 - start
        if kind == b"!":
            position += 2
        elif kind == b",":
            descriptor = read(position + 1, 9)
            if len(descriptor) < 9:
                return None
            position += 10
            if descriptor[8] & 0x80:
                position += 3 * (2 << (descriptor[8] & 7))
            position += 1  # LZW minimum code size
        else:
            return None
        while position < limit:  # data sub-blocks, ended by a zero length
            size = read(position, 1)
            if not size:
                return None
            position += 1 + size[0]
            if size[0] == 0:
                break
    return None


def _webp_length(read: ReadAt, start: int, limit: int) -> int | None:
    header = read(start, 12)
    if len(header) < 12:
        return None
    size = struct.unpack("<I", header[4:8])[0] + 8
    return size if header[8:12] == b"WEBP" and 20 <= size <= limit - start else None


_BOX_TYPES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta", b"pdin", b"moof", b"mfra",
              b"styp", b"sidx", b"pnot", b"PICT"}


def _mp4_length(read: ReadAt, start: int, limit: int) -> int | None:
    position, seen_media = start, False
    while position < limit:
        header = read(position, 16)
        if len(header) < 8:
            break
        size, kind = struct.unpack(">I4s", header[:8])
        if kind not in _BOX_TYPES:
            break
        if size == 1 and len(header) == 16:
            size = struct.unpack(">Q", header[8:16])[0]
        elif size == 0:
            size = limit - position
        if size < 8:
            break
        seen_media = seen_media or kind in (b"moov", b"mdat", b"moof")
        position += size
    length = min(position, limit) - start
    return length if seen_media and length > 16 else None


# In the order of the signature indexes `_sigscan.find` reports: (offset of the signature within the file,
# format, measurer).
_SIGNATURES: tuple[tuple[int, str, Callable[[ReadAt, int, int], int | None]], ...] = (
    (0, "jpeg", _jpeg_length),
    (0, "png", _png_length),
    (0, "gif", _gif_length),
    (0, "gif", _gif_length),
    (0, "webp", _webp_length),  # found by "RIFF"; _webp_length checks the "WEBP" form type
    (4, "mp4", _mp4_length),  # found by "ftyp", 4 bytes into the file
)
_OVERLAP = 8  # the longest signature: a hit straddling two chunks is found in the second


def carve(read: ReadAt, ranges: list[tuple[int, int]]) -> Iterator[Carved]:
    """Media in the byte ranges [(start, end), ...] of an image, in one sequential pass over them.

    The signatures of every format are searched at once per chunk (`_sigscan`, C); each hit is measured by the
    format's structure, and hits inside an item already carved are skipped.
    """
    from hashwarden.evidence._sigscan import find

    for start, end in ranges:
        position = start
        resume = start  # hits before this offset lie inside an item already carved
        while position < end:
            block = read(position, min(CHUNK + _OVERLAP, end - position))
            if not block:
                break
            last_chunk = position + CHUNK >= end
            for index, signature in find(block):
                if index >= CHUNK and not last_chunk:
                    break  # the overlap is searched again as the start of the next chunk
                sig_offset, fmt, measure = _SIGNATURES[signature]
                file_start = position + index - sig_offset
                if file_start < max(start, resume):
                    continue
                limit = file_start + MAX_CARVE_BYTES if fmt == "mp4" else min(end, file_start + MAX_CARVE_BYTES)
                length = measure(read, file_start, limit)
                if length:
                    yield Carved(file_start, length, fmt)
                    resume = file_start + length
            position += CHUNK
