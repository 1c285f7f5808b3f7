"""Cryptographic digests (MD5, SHA-1, SHA-256): exact identity of an item's bytes.

One class serves all three: they differ only in hashlib name and length, so three copies would be one idea thrice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from hashwarden.errors import InvalidSignal

_HEX = re.compile(r"[0-9a-f]+")  # compiled once: `validate` runs for every digest of a batch


@dataclass(frozen=True)
class DigestSignal:
    """A cryptographic digest signal. Signals travel as lowercase hex strings."""

    name: str
    hex_length: int
    examples: tuple[str, ...] = field(default=())
    default_threshold: int = 0

    def validate(self, value: str) -> str:
        """Return `value` as lowercase hex, or raise InvalidSignal."""
        text = value.strip().lower()
        if len(text) != self.hex_length or not _HEX.fullmatch(text):
            raise InvalidSignal(f"not a {self.name} digest ({self.hex_length} hex characters): {value!r}")
        return text

    def distance(self, a: str, b: str) -> int:
        """0 when equal, 1 otherwise: digests have no notion of 'near'."""
        return 0 if a == b else 1

    def accumulator(self) -> "hashlib._Hash":
        """A fresh hashlib object; feed it with update(chunk) and read hexdigest()."""
        return hashlib.new(self.name)


MD5 = DigestSignal("md5", 32, examples=("d41d8cd98f00b204e9800998ecf8427e",))
SHA1 = DigestSignal("sha1", 40, examples=("da39a3ee5e6b4b0d3255bfef95601890afd80709",))
SHA256 = DigestSignal(
    "sha256", 64, examples=("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",)
)
DIGESTS: tuple[DigestSignal, ...] = (MD5, SHA1, SHA256)


def digest_for_length(hex_length: int) -> DigestSignal | None:
    """The digest whose hex form has this length (32 md5, 40 sha1, 64 sha256), as md5sum-style lists need."""
    for digest in DIGESTS:
        if digest.hex_length == hex_length:
            return digest
    return None
