"""PDQ: Meta's perceptual image hash, in the canonical library flavour (full-resolution pixels, no pre-resize).

The engine sits behind `PdqEngine`: hashwarden's own `NativePdqEngine` (C, bit-identical) does the work, and the
reference (`pdqhash`, the C++ core) stays the oracle the tests compare against.

Hex form: 64 lowercase characters, the big-endian 256-bit number whose bit k is DCT cell (k // 16, k % 16).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hashwarden.config import PDQ_MATCH_THRESHOLD
from hashwarden.errors import InvalidSignal
from hashwarden.signals import _pdqcore

if TYPE_CHECKING:  # NumPy and Pillow are loaded by what decodes: `hashwarden hash` of a text file needs neither
    import numpy as np

    from hashwarden.signals.image import Pixels

# The 8 dihedral forms in the order of the reference CLI (pdq-photo-hasher --dihedral) and pdqhash.compute_dihedral.
DIHEDRAL_NAMES: tuple[str, ...] = (
    "orig",
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flipplus1",
    "flipminus1",
)

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PdqResult:
    """A PDQ hash (hex), its quality (0-100) and, when asked for, the 8 dihedral hashes in DIHEDRAL_NAMES order."""

    hash: str
    quality: int
    dihedral: tuple[str, ...] | None = None


class PdqEngine(Protocol):
    """Computes PDQ from decoded pixels. One method, so an engine is easy to swap and to fake."""

    name: str

    def hash_pixels(self, pixels: Pixels, *, dihedral: bool = False) -> PdqResult:
        """Hash decoded pixels; with `dihedral`, all 8 forms from one computation."""
        ...


def bits_to_hex(bits: np.ndarray) -> str:
    """The reference's hex form of a 256-element 0/1 vector as pdqhash returns it (most significant bit first)."""
    import numpy as np

    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    return packed.tobytes().hex()


class NativePdqEngine:
    """hashwarden's own engine (`_pdqcore`, C): bit-identical to the reference, about one pass over the pixels.

    It reads Pillow's pixels in place (no RGB copy) and never blurs the full image more than it must: see the
    comment at the top of `_pdqcore.c`.
    """

    name = "hashwarden"

    def hash_pixels(self, pixels: Pixels, *, dihedral: bool = False) -> PdqResult:
        forms = len(DIHEDRAL_NAMES) if dihedral else 1
        raw, quality = _pdqcore.hash_pixels(pixels.source, pixels.rows, pixels.cols, pixels.pixel_size, forms,
                                            pixels.palette)
        hashes = tuple(raw[32 * i : 32 * (i + 1)].hex() for i in range(forms))
        return PdqResult(hashes[0], quality, hashes if dihedral else None)


class ReferencePdqEngine:
    """PDQ via `pdqhash`, the Cython binding of the reference C++ core: the test oracle (a test dependency)."""

    name = "pdqhash"

    def hash_pixels(self, pixels: Pixels, *, dihedral: bool = False) -> PdqResult:
        import numpy as np
        import pdqhash

        rgb = np.ascontiguousarray(pixels.rgb(), dtype=np.uint8)
        if dihedral:
            vectors, quality = pdqhash.compute_dihedral(rgb)
            hashes = tuple(bits_to_hex(v) for v in vectors)
            return PdqResult(hashes[0], int(quality), hashes)
        vector, quality = pdqhash.compute(rgb)
        return PdqResult(bits_to_hex(vector), int(quality))


DEFAULT_ENGINE: PdqEngine = NativePdqEngine()


class PdqSignal:
    """The PDQ signal type: validation and distance of its hex strings."""

    name = "pdq"
    default_threshold = PDQ_MATCH_THRESHOLD
    # Library-flavour hashes of ThreatExchange's bridge test photo and two of its edits.
    examples = (
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        "f8f8f0cee0f4a84f06370a2a038f63f0b36e26d596621e1d33e6b39c4e9c9b22",
        "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22",
    )

    @staticmethod
    def validate(value: str) -> str:
        """Return `value` as 64 lowercase hex characters, or raise InvalidSignal."""
        text = value.strip().lower()
        if not _HEX64.fullmatch(text):
            raise InvalidSignal(f"not a PDQ hash (64 hex characters): {value!r}")
        return text

    @staticmethod
    def distance(a: str, b: str) -> int:
        """Hamming distance between two PDQ hex strings."""
        return (int(a, 16) ^ int(b, 16)).bit_count()


PDQ = PdqSignal()
