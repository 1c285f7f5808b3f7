"""One-pass hashing: each item's bytes are read once, and every signal is computed from that one read.

The digests are fed chunk by chunk; when the first bytes say the content is an image, the chunks are kept instead
so the image can be decoded for PDQ without a second read, and its digests are computed in a thread beside the
decoding (unless a known-file check needs them first).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from hashwarden.config import (
    MAX_DECODE_BYTES, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, READ_CHUNK_SIZE, VPDQ_QUERY_SECONDS_PER_HASH,
)
from hashwarden.errors import EvidenceReadError
from hashwarden.signals.crypto import DIGESTS
from hashwarden.signals.media import SNIFF_BYTES, sniff
from hashwarden.signals.pdq import DEFAULT_ENGINE, PdqEngine


@dataclass
class FileSignals:
    """Everything hashwarden computes for one item. `error` says why a signal is missing, if one is."""

    size: int = 0
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    media: str = "other"
    format: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_dihedral: tuple[str, ...] | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HashOptions:
    """What to compute and the limits that protect the hasher from hostile input."""

    compute_pdq: bool = True
    dihedral: bool = False
    digests: tuple[str, ...] = ("md5", "sha1", "sha256")
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_image_bytes: int = MAX_IMAGE_BYTES
    max_decode_bytes: int = MAX_DECODE_BYTES  # predicted peak memory of decoding and hashing one image
    chunk_size: int = READ_CHUNK_SIZE
    known_filter: str | None = None  # directory of the known-file filter: its files are not decoded for PDQ
    vpdq_seconds_per_hash: float = VPDQ_QUERY_SECONDS_PER_HASH  # videos: one frame per this many seconds (0 = all)


def hash_stream(
    fp: BinaryIO, options: HashOptions = HashOptions(), engine: PdqEngine = DEFAULT_ENGINE,
    skip_decode: Callable[[FileSignals], str | None] | None = None,
    inspect_image: Callable[[Any], None] | None = None,
) -> FileSignals:
    """Read `fp` to its end once and compute its digests, media type and (for images) PDQ.

    `skip_decode` sees the digests before an image is decoded and may return a reason not to decode it (the
    known-file filter: a file in NSRL needs no PDQ); the reason becomes a note. `inspect_image` sees each decoded
    image's opened Pillow object (`decode_pixels`): the scan reads its tags there, from the same one read.

    Never raises for bad content: a read failure or an undecodable image is reported in `error`, with the
    digests that could be computed (none after a read failure, since a partial digest identifies nothing).
    """
    result = FileSignals()
    accumulators = {d.name: d.accumulator() for d in DIGESTS if d.name in options.digests}
    kept: list[bytes] | None = None
    deferred = False  # an image's digests are computed beside its decoding (`_digests_beside`), not chunk by chunk
    offset = 0
    try:
        while True:
            chunk = fp.read(options.chunk_size)
            if not chunk:
                break
            if offset == 0:
                kind = sniff(chunk[:SNIFF_BYTES])
                result.media, result.format = kind.media, kind.format
                if kind.media == "image" and options.compute_pdq:
                    kept = []
                    deferred = skip_decode is None  # a known-file check needs the digests before the decoding
            if not deferred:
                for acc in accumulators.values():
                    acc.update(chunk)
            if kept is not None:
                kept.append(chunk)
                if offset + len(chunk) > options.max_image_bytes:
                    if deferred:  # not decoded after all: digest what was kept, and the rest as it comes
                        for acc in accumulators.values():
                            for held in kept:
                                acc.update(held)
                        deferred = False
                    kept = None
                    result.notes.append(f"image larger than {options.max_image_bytes:,} bytes: not decoded for PDQ")
            offset += len(chunk)
    except OSError as exc:
        result.size = offset
        result.error = f"read failed at offset {offset}: {exc.strerror or exc}"
        return result
    result.size = offset
    if not deferred:
        _set_digests(result, accumulators)
    if kept is not None:
        reason = skip_decode(result) if skip_decode else None  # (never with `deferred`)
        if reason:
            result.notes.append(reason)
        else:
            data = b"".join(kept)
            kept.clear()  # the chunks and their join are not both held while the image decodes
            with _digests_beside(data if deferred else b"", accumulators):
                _add_pdq(result, data, options, engine, inspect_image)
    if deferred:
        _set_digests(result, accumulators)
    return result


def _set_digests(result: FileSignals, accumulators: dict[str, Any]) -> None:
    for name, acc in accumulators.items():
        setattr(result, name, acc.hexdigest())


@contextlib.contextmanager
def _digests_beside(data: bytes, accumulators: dict[str, Any]) -> Iterator[None]:
    """Feed `data` to the digests in a thread while the body runs (the image's decoding and PDQ).

    hashlib, Pillow's decoders and the PDQ engine all release the GIL on large buffers, so the digests of an image
    cost no wall-clock time where a core is free (a scan with fewer workers than cores); where none is, the work is
    the same as digesting chunk by chunk. Nothing to digest (b""): no thread."""
    if not data:
        yield
        return

    def digest() -> None:
        for acc in accumulators.values():
            acc.update(data)

    thread = threading.Thread(target=digest, name="digests", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _add_pdq(result: FileSignals, data: bytes, options: HashOptions, engine: PdqEngine,
             inspect_image: Callable[[Any], None] | None = None) -> None:
    from hashwarden.signals.image import decode_pixels  # Pillow and NumPy: loaded by the first image, not at start-up

    try:
        pixels = decode_pixels(data, max_pixels=options.max_image_pixels, max_bytes=options.max_decode_bytes,
                               inspect=inspect_image)
    except EvidenceReadError as exc:
        result.error = f"{result.format or 'image'}: {exc}"
        return
    if pixels.frames > 1:
        result.notes.append(f"{pixels.frames} frames or pages: the first is hashed")
    pdq = engine.hash_pixels(pixels, dihedral=options.dihedral)
    result.pdq, result.pdq_quality, result.pdq_dihedral = pdq.hash, pdq.quality, pdq.dihedral
