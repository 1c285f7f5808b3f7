"""Exact lookup of fixed-width digests: a sorted NumPy array searched by bisection.

A dict of bytes would cost ~100 bytes per key; this costs the digest width plus 8, so tens of millions of
entries fit in memory, and a batch of lookups is one vectorised searchsorted.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class ExactIndex:
    """Digest (bytes of one width) -> the ids of the entries holding it."""

    def __init__(self, width: int, pairs: Iterable[tuple[bytes, int]]) -> None:
        self.width = width
        keys: list[bytes] = []
        ids: list[int] = []
        for key, ref in pairs:
            if len(key) != width:
                raise ValueError(f"digest of {len(key)} bytes in an index of width {width}")
            keys.append(key)
            ids.append(ref)
        key_array = np.array(keys, dtype=f"V{width}") if keys else np.empty(0, dtype=f"V{width}")
        order = np.argsort(key_array.view(f"S{width}"), kind="stable")
        self._keys = key_array.view(f"S{width}")[order]
        self._ids = np.asarray(ids, dtype=np.int64)[order]

    def __len__(self) -> int:
        return len(self._ids)

    def query(self, key: bytes) -> list[int]:
        """Ids of the entries whose digest is exactly `key` (empty when none)."""
        if len(key) != self.width or not len(self._ids):
            return []
        probe = np.array([key], dtype=f"V{self.width}").view(f"S{self.width}")
        lo = int(np.searchsorted(self._keys, probe[0], side="left"))
        hi = int(np.searchsorted(self._keys, probe[0], side="right"))
        return self._ids[lo:hi].tolist()
