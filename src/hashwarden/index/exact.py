"""Exact lookup of fixed-width digests: a sorted NumPy array searched by bisection.

A dict of bytes would cost ~100 bytes per key; this costs the digest width plus 8, so tens of millions of
entries fit in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np


class ExactIndex:
    """Digest (bytes of one width) -> the ids of the entries holding it."""

    def __init__(self, width: int, keys: bytes, ids: np.ndarray) -> None:
        """`keys` is the concatenation of len(ids) digests of `width` bytes each."""
        if len(keys) != width * len(ids):
            raise ValueError(f"{len(keys)} key bytes do not make {len(ids)} digests of {width} bytes")
        self.width = width
        key_array = np.frombuffer(keys, dtype=f"S{width}") if len(ids) else np.empty(0, dtype=f"S{width}")
        # NumPy compares S-dtype values as NUL-padded byte strings; all keys have the same width, so this is
        # plain byte order and a key ending in zero bytes stays distinct.
        order = np.argsort(key_array, kind="stable")
        self._keys = key_array[order]
        self._ids = np.asarray(ids, dtype=np.int64)[order]

    @classmethod
    def from_pairs(cls, width: int, pairs: Iterable[tuple[bytes, int]]) -> "ExactIndex":
        keys, ids = bytearray(), []
        for key, ref in pairs:
            if len(key) != width:
                raise ValueError(f"digest of {len(key)} bytes in an index of width {width}")
            keys += key
            ids.append(ref)
        return cls(width, bytes(keys), np.asarray(ids, dtype=np.int64))

    def __len__(self) -> int:
        return len(self._ids)

    def save(self, path: str | os.PathLike[str]) -> None:
        """`<path>.keys.npy` (the sorted digests, N x width uint8) and `<path>.ids.npy` (int64, same order): what
        `load` maps without sorting again."""
        np.save(f"{os.fspath(path)}.keys.npy", self._keys.view(np.uint8).reshape(-1, self.width))
        np.save(f"{os.fspath(path)}.ids.npy", self._ids)

    @classmethod
    def load(cls, path: str | os.PathLike[str], width: int) -> "ExactIndex":
        """Memory-map an index written by `save` (read-only; the page cache shares it between processes).

        Raises:
            ValueError: files missing or unreadable, or arrays that do not agree (truncated or mixed files).
        """
        try:
            keys = np.load(f"{os.fspath(path)}.keys.npy", mmap_mode="r")
            ids = np.load(f"{os.fspath(path)}.ids.npy", mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: exact index unreadable ({exc})") from exc
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != width or ids.dtype != np.int64 \
                or ids.shape != (len(keys),):
            raise ValueError(f"{path}: exact index arrays do not agree (truncated or mixed files)")
        index = cls(width, b"", np.empty(0, dtype=np.int64))
        if len(ids):
            index._keys, index._ids = keys.view(f"S{width}").reshape(-1), ids
        return index

    def query(self, key: bytes) -> list[int]:
        """Ids of the entries whose digest is exactly `key` (empty when none)."""
        if len(key) != self.width or not len(self._ids):
            return []
        probe = np.frombuffer(key, dtype=f"S{self.width}")[0]
        lo = int(np.searchsorted(self._keys, probe, side="left"))
        hi = int(np.searchsorted(self._keys, probe, side="right"))
        return self._ids[lo:hi].tolist()

    def query_many(self, keys: list[bytes]) -> list[list[int]]:
        """`query` of each key, in one bisection of the whole batch: a 1,000-item lookup makes two NumPy calls per
        digest instead of two per item (bench/service.py)."""
        answers: list[list[int]] = [[] for _ in keys]
        wanted = [i for i, key in enumerate(keys) if len(key) == self.width]
        if not wanted or not len(self._ids):
            return answers
        probes = np.frombuffer(b"".join(keys[i] for i in wanted), dtype=f"S{self.width}")
        lows = np.searchsorted(self._keys, probes, side="left")
        highs = np.searchsorted(self._keys, probes, side="right")
        for i in np.flatnonzero(highs > lows).tolist():
            answers[wanted[i]] = self._ids[lows[i]:highs[i]].tolist()
        return answers
