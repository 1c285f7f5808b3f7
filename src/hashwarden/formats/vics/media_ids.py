"""Duplicate MediaIDs: a warning, not an error (a MediaID is only a key inside one file), counted in little
memory so that tens of millions fit."""

from __future__ import annotations

from array import array

class MediaIds:
    """Seen MediaIDs in little memory: a bitmap for small non-negative integers (the usual 1..N, one bit each), an
    int64 array sorted at the end for other integers (8 bytes each), a set for the first string IDs (rare in
    practice) and, past that, their 64-bit hashes in the array of hashes."""

    SMALL = 1 << 27  # bitmap of at most 16 MiB
    STRINGS = 100_000

    def __init__(self) -> None:
        self.bits = bytearray()
        self.big = array("q")
        self.hashed = array("q")
        self.strings: set[str] = set()
        self.duplicates = 0
        self.examples: list[str] = []

    def add(self, media_id: int | str, number: int) -> None:
        if type(media_id) is int and 0 <= media_id < self.SMALL:
            index, bit = media_id >> 3, 1 << (media_id & 7)
            bits = self.bits
            if index >= len(bits):
                bits.extend(bytes(max(index + 1 - len(bits), len(bits))))
            if bits[index] & bit:
                self._duplicate(f"MediaID {media_id} at record {number}")
            else:
                bits[index] |= bit
        elif type(media_id) is int:
            self.big.append(media_id)
        elif media_id in self.strings:
            self._duplicate(f"MediaID {media_id!r} at record {number}")
        elif len(self.strings) < self.STRINGS:
            self.strings.add(media_id)
        else:
            self.hashed.append(hash(media_id))

    def _duplicate(self, example: str) -> None:
        self.duplicates += 1
        if len(self.examples) < 5:
            self.examples.append(example)

    def finish(self) -> None:
        """Count the duplicates among the integers kept in arrays (sorted in place, no copy)."""
        import numpy as np

        for values, label in ((self.big, "MediaID {}"), (self.hashed, "a string MediaID")):
            if len(values) < 2:
                continue
            ids = np.frombuffer(values, dtype=np.int64)
            ids.sort()
            repeated = ids[1:][ids[1:] == ids[:-1]]
            for value in repeated[: max(0, 5 - len(self.examples))]:
                self.examples.append(label.format(int(value)))
            self.duplicates += len(repeated)
        self.big, self.hashed = array("q"), array("q")
