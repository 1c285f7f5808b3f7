"""PDQ Hamming range search with exact recall, by brute force over packed 64-bit words.

Exact recall matters more than speed here: a missed match is a missed victim. Brute force is exact by
construction; a sub-linear index with the same interface can replace it for national-scale sets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# Entries compared per step: bounds the temporary distance matrix to a few MB.
_BLOCK = 16384


@dataclass(frozen=True)
class HammingHit:
    """An indexed entry within the radius of a query: its id, distance and which query form matched."""

    entry_id: int
    distance: int
    query_index: int


class HammingIndex:
    """256-bit codes -> entry ids; `query` returns every code within a radius of any of the query codes."""

    def __init__(self, codes: bytes, ids: np.ndarray) -> None:
        """`codes` is the concatenation of len(ids) 32-byte PDQ codes."""
        if len(codes) != 32 * len(ids):
            raise ValueError(f"{len(codes)} code bytes do not make {len(ids)} PDQ codes of 32 bytes")
        self._codes = np.frombuffer(codes, dtype=np.uint64).reshape(-1, 4) if len(ids) else np.empty((0, 4), np.uint64)
        self._ids = np.asarray(ids, dtype=np.int64)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[bytes, int]]) -> "HammingIndex":
        codes, ids = bytearray(), []
        for code, ref in pairs:
            if len(code) != 32:
                raise ValueError(f"PDQ code of {len(code)} bytes (expected 32)")
            codes += code
            ids.append(ref)
        return cls(bytes(codes), np.asarray(ids, dtype=np.int64))

    def __len__(self) -> int:
        return len(self._ids)

    def query(self, codes: list[bytes], radius: int) -> list[HammingHit]:
        """For each indexed code, the nearest of `codes` if within `radius` (one hit per entry)."""
        if not len(self._ids) or not codes:
            return []
        queries = np.frombuffer(b"".join(codes), dtype=np.uint64).reshape(-1, 4)
        hits: list[HammingHit] = []
        for start in range(0, len(self._ids), _BLOCK):
            block = self._codes[start : start + _BLOCK]
            # (entries, queries) distance matrix: popcount of XOR summed over the 4 words.
            distances = np.bitwise_count(block[:, None, :] ^ queries[None, :, :]).sum(axis=2, dtype=np.int32)
            best_query = distances.argmin(axis=1)
            best = distances[np.arange(len(best_query)), best_query]
            for row in np.nonzero(best <= radius)[0]:
                hits.append(HammingHit(int(self._ids[start + row]), int(best[row]), int(best_query[row])))
        return hits
