"""Exact lookup of fixed-width digests: a sorted NumPy array searched by bisection, narrowed by a fence table.

A dict of bytes would cost ~100 bytes per key; this costs the digest width plus 8 (and half a byte of fence table),
so tens of millions of entries fit in memory.

Why fences: a bisection of 10M mapped keys walks ~24 levels, most of them a cache and TLB miss of their own, and
that was the largest share of an exact lookup (bench/service.py). The fence table holds, for each value of a key's
first bits, where the keys starting with it begin; a query reads its two fences and bisects only the keys between
them (~16 on average, a few cache lines of one page). Digests are uniform, so the ranges are small; keys chosen to
share their first bits (a hostile list) make one range large, and its bisection is then no longer than the plain
one: the worst case stays logarithmic, the answers exact.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

KEYS_PER_FENCE = 16  # keys between two fences on average: a few cache lines of one page
MAX_FENCE_BITS = 22  # 4M fences (32 MiB); past 64M keys the ranges grow instead (a step more per doubling)
FEW_KEYS = 8  # up to this many keys, a search key by key costs less than stepping arrays (~6 against ~50 us)
FENCES_CHECKED = 257  # fences whose neighbouring keys `load` checks against the table


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
        self._fences = fences_of(self._keys.view(np.uint8).reshape(-1, width), fence_bits(len(self._ids), width))

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
        """`<path>.keys.npy` (the sorted digests, N x width uint8), `<path>.ids.npy` (int64, same order) and
        `<path>.fences.npy` (int64, see `fences_of`): what `load` maps without sorting again."""
        np.save(f"{os.fspath(path)}.keys.npy", self._keys.view(np.uint8).reshape(-1, self.width))
        np.save(f"{os.fspath(path)}.ids.npy", self._ids)
        np.save(f"{os.fspath(path)}.fences.npy", self._fences)

    @classmethod
    def load(cls, path: str | os.PathLike[str], width: int) -> "ExactIndex":
        """Memory-map an index written by `save` (read-only; the page cache shares it between processes).

        Raises:
            ValueError: files missing or unreadable, or arrays that do not agree (truncated or mixed files).
        """
        try:
            keys = np.load(f"{os.fspath(path)}.keys.npy", mmap_mode="r")
            ids = np.load(f"{os.fspath(path)}.ids.npy", mmap_mode="r")
            fences = np.load(f"{os.fspath(path)}.fences.npy", mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: exact index unreadable ({exc})") from exc
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != width or ids.dtype != np.int64 \
                or ids.shape != (len(keys),) or not _fences_fit(fences, keys, width):
            raise ValueError(f"{path}: exact index arrays do not agree (truncated or mixed files)")
        index = cls(width, b"", np.empty(0, dtype=np.int64))
        if len(ids):
            index._keys, index._ids, index._fences = keys.view(f"S{width}").reshape(-1), ids, fences
        return index

    def query(self, key: bytes) -> list[int]:
        """Ids of the entries whose digest is exactly `key` (empty when none)."""
        return self.query_many([key])[0]

    def query_many(self, keys: Sequence[bytes]) -> list[list[int]]:
        """`query` of each key, in one search of the whole batch (`find`)."""
        answers: list[list[int]] = [[] for _ in keys]
        for number, entry_id in zip(*(column.tolist() for column in self.find(keys))):
            answers[number].append(entry_id)
        return answers

    def find(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(key number, entry id) of every entry whose digest is one of `keys`, by key number (a key of another
        width has none): a 1,000-item lookup is a few NumPy calls per digest, and Python touches only the hits.
        Up to FEW_KEYS keys (a scan's item, a single lookup) are searched one by one, which costs less there."""
        fitting = [number for number, key in enumerate(keys) if len(key) == self.width]
        if not len(self._ids) or not fitting:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        if len(fitting) <= FEW_KEYS:
            found = [(number, entry_id) for number in fitting for entry_id in self._search_one(keys[number])]
            return (np.array([number for number, _ in found], dtype=np.int64),
                    np.array([entry_id for _, entry_id in found], dtype=np.int64))
        found, entry_ids = self._search(np.frombuffer(b"".join(keys[i] for i in fitting), dtype=f"S{self.width}"))
        return np.asarray(fitting, dtype=np.int64)[found], entry_ids

    def _search_one(self, key: bytes) -> list[int]:
        """The ids of `key` (of the index's width, the index not empty): `np.searchsorted` over its fences' range."""
        bits = _bits_of(self._fences)
        prefix = int.from_bytes(key[:4].ljust(4, b"\0"), "big") >> (32 - bits) if bits else 0
        fences = np.asarray(self._fences)
        start, end = int(fences[prefix]), int(fences[prefix + 1])
        keys = self._keys.view(np.ndarray)[start:end]
        probe = np.frombuffer(key, dtype=f"S{self.width}")
        low, high = int(keys.searchsorted(probe, "left")[0]), int(keys.searchsorted(probe, "right")[0])
        return self._ids.view(np.ndarray)[start + low:start + high].tolist()

    def _search(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`find` over an S{width} array of probes (the index not empty): (probe number, entry id) per hit.

        Each probe bisects the keys between its fences, all probes a step at a time (a bisection with a range per
        probe, which `np.searchsorted` does not take); the steps are those of the largest range.
        """
        keys = self._keys.view(np.ndarray)  # a memmap's Python-level indexing costs more than the search
        prefixes = _prefixes(probes.view(np.uint8).reshape(-1, self.width), _bits_of(self._fences))
        fences = np.asarray(self._fences)
        starts, ends = fences[prefixes], fences[prefixes + 1]
        lows = _bisect(keys, probes, starts, ends, right=False)
        found = np.flatnonzero((lows < ends) & (keys.take(lows, mode="clip") == probes))
        # a digest held by several entries: its run ends at the first greater key (bisected only for those)
        highs = lows[found] + 1
        runs = np.flatnonzero((highs < ends[found]) & (keys.take(highs, mode="clip") == probes[found]))
        highs[runs] = _bisect(keys, probes[found[runs]], highs[runs], ends[found[runs]], right=True)
        counts = highs - lows[found]
        numbers = np.repeat(found, counts)
        positions = np.arange(len(numbers)) + np.repeat(lows[found] - (np.cumsum(counts) - counts), counts)
        return numbers.astype(np.int64), np.asarray(self._ids[positions])


def fence_bits(count: int, width: int) -> int:
    """How many leading bits of a key the fence table of `count` keys is indexed by (KEYS_PER_FENCE per fence)."""
    return min((count // KEYS_PER_FENCE).bit_length(), MAX_FENCE_BITS, 8 * width, 32)


def fences_of(sorted_keys: np.ndarray, bits: int) -> np.ndarray:
    """The fence table of sorted keys (an N x width uint8 array): entry p is the position of the first key whose
    leading `bits` bits are >= p, so the keys starting with p are those from entry p to entry p + 1."""
    counts = np.bincount(_prefixes(sorted_keys, bits), minlength=1 << bits)
    fences = np.zeros((1 << bits) + 1, dtype=np.int64)
    np.cumsum(counts, out=fences[1:])
    return fences


def _prefixes(keys: np.ndarray, bits: int) -> np.ndarray:
    """The leading `bits` bits (at most 32) of each row of an N x width uint8 array, as integers."""
    head = np.zeros((len(keys), 4), dtype=np.uint8)
    head[:, :min(keys.shape[1], 4)] = keys[:, :4]
    return (head.view(">u4").ravel().astype(np.int64) >> (32 - bits)) if bits else np.zeros(len(keys), np.int64)


def _bits_of(fences: np.ndarray) -> int:
    return (len(fences) - 1).bit_length() - 1


def _fences_fit(fences: np.ndarray, keys: np.ndarray, width: int) -> bool:
    """Whether a mapped fence table is the one of these keys (an N x width uint8 array): a table from other files
    would send probes to the wrong keys and answer "not known" for known digests. Its shape, ends and order are
    checked, and the keys on each side of FENCES_CHECKED fences spread over the table (a few page reads)."""
    if not (fences.dtype == np.int64 and fences.shape == ((1 << fence_bits(len(keys), width)) + 1,)
            and fences[0] == 0 and fences[-1] == len(keys) and bool(np.all(np.diff(fences) >= 0))):
        return False
    bits = _bits_of(fences)
    values = np.linspace(0, 1 << bits, FENCES_CHECKED).astype(np.int64)  # ascending; repeats dropped below
    values = values[np.concatenate(([True], values[1:] != values[:-1]))]  # np.unique would load numpy.ma
    at = np.asarray(fences[values])
    first, last = at < len(keys), at > 0  # the first key at or past the fence, the last one before it
    return bool(np.all(_prefixes(np.asarray(keys[at[first]]), bits) >= values[first])
                and np.all(_prefixes(np.asarray(keys[at[last] - 1]), bits) < values[last]))


def _bisect(keys: np.ndarray, probes: np.ndarray, lows: np.ndarray, highs: np.ndarray, right: bool) -> np.ndarray:
    """Per probe, the first position in [low, high) whose key is >= the probe (> with `right`), or high: what
    `np.searchsorted` gives, over a range of its own for each probe.

    Every probe takes as many steps as the largest range needs; a probe whose range is closed (low == high == p)
    steps on to (p + 1, p) or stays at (p, p), so the answer is the smaller bound either way, without a mask.
    """
    lows, highs = lows.copy(), highs.copy()
    for _ in range(int((highs - lows).max(initial=0)).bit_length()):
        middles = (lows + highs) >> 1
        met = keys.take(middles, mode="clip")  # a closed range at the end asks for key N, which is not read
        below = (met <= probes) if right else (met < probes)
        lows = np.where(below, middles + 1, lows)
        highs = np.where(below, highs, middles)
    return np.minimum(lows, highs)
