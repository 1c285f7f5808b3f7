"""Verification of an E01/Ex01 image against the MD5/SHA-1 stored in it at acquisition (as `ewfverify` does).

Every chunk is read through libewf, which checks each chunk's own checksum; a chunk that fails is recorded with
its offset, counted as zeros in the recomputed digests (so they will not match), and the reading goes on.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from typing import Any


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
        handle.open(pyewf.glob(os.fsdecode(path)))
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
                result.chunk_errors.append({"offset": offset, "length": want, "message": str(exc).splitlines()[0]})
                data = b"\0" * want
            if not data:
                result.chunk_errors.append({"offset": offset, "length": want, "message": "no data (image truncated)"})
                data = b"\0" * want
            md5.update(data)
            sha1.update(data)
            offset += len(data)
        result.computed = {"md5": md5.hexdigest(), "sha1": sha1.hexdigest()}
    finally:
        handle.close()
    return result
