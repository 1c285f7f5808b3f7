"""The known-file filter: is this file's MD5/SHA-1/SHA-256 in an ignorable set (NSRL, local known-good lists)?

NSRL alone is tens of millions of hashes (73.8M distinct in the modern RDS). Holding them in Python objects would
cost gigabytes per worker, and streaming them out of the database at every scan would cost minutes. Instead the
ignorable sets are written once into a cache directory beside the database: per digest, a sorted array of the
first 8 bytes as big-endian integers (what the search runs on: `searchsorted` over uint64 is fast and 8 bytes
per hash), the full digests and the entry ids in the same order (touched only to confirm a hit). Every worker
memory-maps the same files, so the operating system shares one copy of the pages between processes, and opening
the filter costs milliseconds. The cache records a fingerprint of the ignorable sets' imports and is rebuilt when
it no longer matches.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
WIDTHS = {"md5": 16, "sha1": 20, "sha256": 32}
FEW_VALUES = 8  # up to this many values, `find` calls `lookup` for each


class KnownFilter:
    """Sorted, memory-mapped digests of the ignorable sets with their entry ids."""

    def __init__(self, directory: Path, meta: dict, arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]):
        self.directory = directory
        self.meta = meta
        self._arrays = arrays

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]

    def __len__(self) -> int:
        return sum(len(prefix) for prefix, _, _ in self._arrays.values())

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> "KnownFilter":
        """Memory-map a filter written by `build`.

        Raises:
            ValueError: not a filter directory, another format version, or arrays that do not agree.
        """
        path = Path(directory)
        try:
            meta = json.loads((path / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a known-file filter ({exc})") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: filter format {meta.get('format')}, this hashwarden reads {FORMAT_VERSION}")
        arrays = {}
        for name, width in WIDTHS.items():
            try:
                prefix = np.load(path / f"{name}.prefix.npy", mmap_mode="r")
                full = np.load(path / f"{name}.full.npy", mmap_mode="r")
                ids = np.load(path / f"{name}.ids.npy", mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise ValueError(f"{path}: {name} arrays unreadable ({exc})") from exc
            if not (len(prefix) == len(full) == len(ids) == meta["counts"][name]) or full.dtype != np.uint8 \
                    or full.ndim != 2 or full.shape[1] != width:
                raise ValueError(f"{path}: {name} arrays do not agree with meta.json (truncated or mixed files)")
            arrays[name] = (prefix, full, ids)
        return cls(path, meta, arrays)

    def lookup(self, digest: str, value: bytes) -> list[int]:
        """Entry ids whose `digest` (md5/sha1/sha256) is exactly `value`."""
        prefix, full, ids = self._arrays[digest]
        if len(value) != WIDTHS[digest] or not len(prefix):
            return []
        key = int.from_bytes(value[:8], "big")
        position = int(prefix.searchsorted(np.uint64(key)))
        found = []
        while position < len(prefix) and int(prefix[position]) == key:
            # rows of uint8, not S-dtype scalars: NumPy strips trailing NUL bytes from those; digests end in 0x00
            if full[position].tobytes() == value:
                found.append(int(ids[position]))
            position += 1
        return found

    def find(self, digest: str, values: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(value number, entry id) of every entry whose `digest` is one of `values` (a value of another width has
        none), by value number: `lookup` of a whole batch in a few NumPy calls (Matcher.match_many). Up to
        FEW_VALUES values go through `lookup` one by one, which costs less there (a scan's item: ~4 against ~25 us)."""
        if len(values) <= FEW_VALUES:
            found = [(number, entry_id) for number, value in enumerate(values)
                     for entry_id in self.lookup(digest, value)]
            return (np.array([number for number, _ in found], dtype=np.int64),
                    np.array([entry_id for _, entry_id in found], dtype=np.int64))
        prefix, full, ids = self._arrays[digest]
        width = WIDTHS[digest]
        fitting = np.array([number for number, value in enumerate(values) if len(value) == width], dtype=np.int64)
        if not len(prefix) or not len(fitting):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        wanted = np.frombuffer(b"".join(values[i] for i in fitting.tolist()), dtype=np.uint8).reshape(-1, width)
        keys = _prefixes(wanted)
        lows = np.searchsorted(prefix, keys, side="left")
        counts = np.searchsorted(prefix, keys, side="right") - lows
        # every row sharing a value's 8-byte prefix, compared in full (rows of uint8, not S-dtype scalars: NumPy
        # strips trailing NUL bytes from those; digests end in 0x00)
        numbers = np.repeat(np.arange(len(keys)), counts)
        positions = np.arange(len(numbers)) + np.repeat(lows - (np.cumsum(counts) - counts), counts)
        same = np.all(np.asarray(full)[positions] == wanted[numbers], axis=1)
        return fitting[numbers[same]], np.asarray(ids)[positions[same]].astype(np.int64)

    def contains_many(self, digest: str, values: np.ndarray) -> np.ndarray:
        """Membership of many digests at once (an (N, width) uint8 array): what a batch check runs on."""
        prefix, full, _ = self._arrays[digest]
        if not len(prefix) or not len(values):
            return np.zeros(len(values), dtype=bool)
        keys = _prefixes(values)
        # Searching the keys in sorted order lets NumPy narrow each search from the previous one, which keeps the
        # walk through a 400 MB array (50M hashes) mostly in cache: about twice as fast as random order.
        order = np.argsort(keys)
        positions = np.empty(len(keys), dtype=np.intp)
        positions[order] = np.searchsorted(prefix, keys[order], side="left")
        inside = positions < len(prefix)
        hit = np.zeros(len(values), dtype=bool)
        hit[inside] = prefix[positions[inside]] == keys[inside]
        candidates = np.flatnonzero(hit)
        # confirm on the full digest, vectorised against the first row of each prefix run
        same = np.all(full[positions[candidates]] == values[candidates], axis=1)
        for i in candidates[~same]:  # a different digest first in a shared-prefix run (rare): check the run
            hit[i] = bool(self.lookup(digest, values[i].tobytes()))
        return hit


def _prefixes(digests: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each row of an (N, width) uint8 array as big-endian integers (byte order kept)."""
    return np.ascontiguousarray(digests[:, :8]).view(">u8").ravel().astype(np.uint64)


def build(directory: str | os.PathLike[str], columns: dict[str, object], fingerprint: str) -> Path:
    """Write a filter and replace `directory` with it atomically.

    `columns` maps a digest name to (digest bytes, entry id) pairs, or to a ready (S{width} array, id array)
    tuple (what the benchmark passes for 50M hashes).
    """
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".known-filter-", dir=target.parent))
    try:
        counts = {}
        for name, width in WIDTHS.items():
            given = columns.get(name) or []
            full, ids = given if isinstance(given, tuple) else _collect(given, width)
            # Sorted by the 8-byte prefix only (an integer sort, ~10x faster than sorting byte strings); digests
            # sharing a prefix sit together and `lookup` compares each of them in full.
            prefix = _prefixes(full.view(np.uint8).reshape(-1, width)) if len(full) else np.empty(0, np.uint64)
            order = np.argsort(prefix, kind="stable")
            full, ids, prefix = full[order], np.asarray(ids, dtype=np.int64)[order], prefix[order]
            np.save(staging / f"{name}.prefix.npy", prefix)
            np.save(staging / f"{name}.full.npy", full.view(np.uint8).reshape(-1, width))
            np.save(staging / f"{name}.ids.npy", ids)
            counts[name] = int(len(full))
        (staging / "meta.json").write_text(json.dumps(
            {"format": FORMAT_VERSION, "fingerprint": fingerprint, "counts": counts}, sort_keys=True))
        old = target.with_name(target.name + ".old")
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _collect(pairs: Iterable[tuple[bytes, int]], width: int) -> tuple[np.ndarray, np.ndarray]:
    keys, ids = bytearray(), []
    for value, entry_id in pairs:
        if len(value) == width:
            keys += value
            ids.append(entry_id)
    full = np.frombuffer(bytes(keys), dtype=f"S{width}") if ids else np.empty(0, dtype=f"S{width}")
    return full, np.asarray(ids, dtype=np.int64)
