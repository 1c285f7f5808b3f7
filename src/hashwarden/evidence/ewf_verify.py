"""Verification of an E01/Ex01 image against the MD5/SHA-1 stored in it at acquisition (as `ewfverify` does).

The media is read once through libewf for the digests; a read that fails is recorded with its offset, counted as
zeros (so the digests will not match), and the reading goes on. libewf does not tell pyewf which chunks failed
their own Adler-32 (it returns the damaged bytes), so for EWF1 images (E01/S01/L01) `ewf_chunks` checks every
chunk in the segment files themselves and the damaged ones are listed with their media offsets, as ewfverify does.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from hashwarden.evidence.ewf_chunks import check_chunks, is_ewf1

_READ_OFFSET = re.compile(r"offset: \d+ \(0x[0-9a-f]+\)", re.IGNORECASE)  # libewf names the offset; we keep it apart


@dataclass
class EwfVerification:
    """Stored versus recomputed digests of one E01 image, and where its chunks failed."""

    path: str
    media_size: int = 0
    stored: dict[str, str | None] = field(default_factory=dict)
    computed: dict[str, str] = field(default_factory=dict)
    chunk_errors: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def verified(self) -> bool:
        """True when no chunk failed and every stored digest equals the recomputed one (at least one stored)."""
        stored = {k: v for k, v in self.stored.items() if v}
        return (not self.error and not self.chunk_errors and bool(stored)
                and all(self.computed.get(k) == v.lower() for k, v in stored.items()))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verified": self.verified}


def verify_ewf(path: str) -> EwfVerification:
    """Read the whole image once and compare its MD5 and SHA-1 with the values stored in it."""
    import pyewf

    result = EwfVerification(path)
    handle = pyewf.handle()
    try:
        segments = pyewf.glob(os.fsdecode(path))
        handle.open(segments)
    except (OSError, RuntimeError) as exc:
        result.error = f"cannot open E01: {exc}"
        return result
    try:
        result.media_size = handle.get_media_size()
        result.stored = {"md5": handle.get_hash_value("MD5"), "sha1": handle.get_hash_value("SHA1")}
        md5, sha1 = hashlib.md5(), hashlib.sha1()
        chunk = max(handle.get_chunk_size(), 32768)
        offset = 0
        while offset < result.media_size:
            want = min(chunk, result.media_size - offset)
            try:
                data = handle.read_buffer_at_offset(want, offset)
            except (OSError, RuntimeError) as exc:
                _add_range(result.chunk_errors, offset, want, _READ_OFFSET.sub("offset", str(exc).splitlines()[0]))
                data = b"\0" * want
            if not data:
                _add_range(result.chunk_errors, offset, want, "no data (image truncated)")
                data = b"\0" * want
            md5.update(data)
            sha1.update(data)
            offset += len(data)
        result.computed = {"md5": md5.hexdigest(), "sha1": sha1.hexdigest()}
        chunk_size = handle.get_chunk_size()
    finally:
        handle.close()
    if is_ewf1(path):
        result.chunk_errors.extend(error.to_json() for error in check_chunks(segments, chunk_size, result.media_size))
    return result


def _add_range(errors: list[dict[str, Any]], offset: int, length: int, message: str) -> None:
    """Record a failed read, extending the previous range when it is the same failure right before it.

    A truncated image fails on every chunk after the cut; one range says that better than thousands of rows.
    """
    last = errors[-1] if errors else None
    if last and last["message"] == message and last["offset"] + last["length"] == offset:
        last["length"] += length
    else:
        errors.append({"offset": offset, "length": length, "message": message})
