"""PDQ range search with exact recall at national scale: multi-index hashing with paired substrings.

Why MIH: a 256-bit code within Hamming distance r of a query agrees, by the pigeonhole principle, with the query
within floor(r / m) bits on at least one of m disjoint parts. Here the code is 8 chunks of 32 bits, each split
into two 16-bit halves with one table per half (16 tables): a neighbour within 31 has a chunk within 3 bits and,
in it, a half within 1 bit, so it sits in one of the 17 buckets probed around the query's half in that half's
table. Each table entry carries the *other* half of its chunk, so a bucket is filtered on the whole 32-bit chunk
with sequential reads, and only the few survivors are fetched and verified with the full 256-bit distance: recall
is exact for any radius (above 31 more buckets are probed, from 48 a linear scan answers). A missed match is a
missed victim. The compiled backend (`_mih.c`) holds the loops; the design, the measured figures and the
trade-offs are in docs/architecture.md and bench/pdq_index.py.

Backends: `PDQIndex` keeps its tables as plain arrays and hands them to a backend module with `build`, `search`
and `join` (see `_mih.c` for their contract), so a faster backend (GPU, another layout) can replace it without
touching callers.

`add` keeps new codes in a brute-forced tail until it is merged (at `save`, or when it grows past
`MERGE_AFTER`): additions are cheap and searches stay exact.

File format (`save`/`load`), little-endian: 64-byte header (magic `HWPDQIX1`, format version 2, code count,
table count), the codes (N x 32 bytes), the bucket offsets (16 x 65,537 uint32), the ids in bucket order
(16 x N uint32), the partner halves in bucket order (16 x N uint16). `load(mmap=True)` maps it without rebuilding
anything; a size that does not match the header, another format version or magic is refused, never searched.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import ModuleType

import numpy as np

from hashwarden.index import _mih

MAGIC = b"HWPDQIX1"
FORMAT_VERSION = 2
TABLES = 16
BUCKETS = 1 << 16
HEADER = struct.Struct("<8sIQI36x")  # magic, version, count, tables: 64 bytes
MERGE_AFTER = 16_384
JOIN_FROM = 1024  # queries from which `join` indexes them (below, probing query by query is as fast)
MAX_RADIUS = 256


def as_codes(codes: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
    """PDQ codes as a C-contiguous (N, 32) uint8 array (no copy when already one).

    Raises:
        ValueError: wrong dtype or shape, or bytes that are not whole 32-byte codes.
    """
    if isinstance(codes, (bytes, bytearray, memoryview)):
        if len(codes) % 32:
            raise ValueError(f"{len(codes)} bytes do not make whole 32-byte PDQ codes")
        codes = np.frombuffer(codes, dtype=np.uint8).reshape(-1, 32)
    array = np.asarray(codes)
    if array.dtype != np.uint8 or array.ndim != 2 or array.shape[1] != 32:
        raise ValueError(f"PDQ codes must be an (N, 32) uint8 array, not {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)


class Hits:
    """Search answers for many queries in one piece (CSR): query q's hits are `ids[lims[q]:lims[q+1]]`
    (ascending) at `distances[...]`. Cheap to produce for a million queries, unlike a million small arrays."""

    def __init__(self, lims: np.ndarray, ids: np.ndarray, distances: np.ndarray) -> None:
        self.lims, self.ids, self.distances = lims, ids, distances

    def __len__(self) -> int:
        return len(self.lims) - 1

    def __getitem__(self, query: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.lims[query]), int(self.lims[query + 1])
        return self.ids[start:end], self.distances[start:end]

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, id, distance) of every hit, as three arrays."""
        queries = np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.lims))
        return queries, self.ids, self.distances


class PDQIndex:
    """256-bit PDQ codes (ids = row numbers, in the order built and added) searched within a Hamming radius."""

    def __init__(self, codes: np.ndarray, offsets: np.ndarray, ids: np.ndarray, partners: np.ndarray,
                 backend: ModuleType = _mih) -> None:
        self._codes = codes  # (N, 32) uint8
        self._offsets = offsets  # (TABLES, BUCKETS + 1) uint32
        self._ids = ids  # (TABLES, N) uint32, bucket order
        self._partners = partners  # (TABLES, N) uint16, bucket order
        self._tail = np.empty((0, 32), dtype=np.uint8)  # added, not yet in the tables: brute-forced
        self._backend = backend

    # --- building -----------------------------------------------------------------------------------------

    @classmethod
    def build(cls, codes: np.ndarray | bytes, backend: ModuleType = _mih) -> "PDQIndex":
        """An index of `codes` ((N, 32) uint8, not copied when contiguous); ids are row numbers."""
        return cls(*_tables(as_codes(codes), backend), backend=backend)

    def add(self, codes: np.ndarray | bytes) -> None:
        """Append codes (ids continue from len(self)); searchable at once."""
        packed = as_codes(codes)
        self._tail = np.concatenate([self._tail, packed]) if len(self._tail) else packed.copy()
        if len(self._tail) >= MERGE_AFTER:
            self.merge()

    def merge(self) -> None:
        """Fold the added codes into the tables (a rebuild: linear time, ~1 s per 10M codes)."""
        if len(self._tail):
            codes = np.concatenate([np.asarray(self._codes), self._tail])
            self._codes, self._offsets, self._ids, self._partners = _tables(codes, self._backend)
            self._tail = np.empty((0, 32), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._codes) + len(self._tail)

    @property
    def nbytes(self) -> int:
        """Memory the index holds (codes and tables), mapped or not."""
        return sum(a.nbytes for a in (self._codes, self._offsets, self._ids, self._partners, self._tail))

    # --- searching ----------------------------------------------------------------------------------------

    def search(self, queries: np.ndarray | bytes, radius: int = 31) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query, (ids, distances) of every code within `radius`, ids ascending. Exact for any radius;
        above 31 more buckets are probed per table (slower), from 48 on every code is compared.

        Raises:
            ValueError: bad queries (dtype, shape) or a radius outside 0..256.
        """
        hits = self.search_many(queries, radius)
        return [hits[q] for q in range(len(hits))]

    def search_many(self, queries: np.ndarray | bytes, radius: int = 31) -> Hits:
        """The answers of `search` as one `Hits`, query after query in the backend (no per-query Python)."""
        packed = _check(queries, radius)
        lims, ids, distances = self._backend.search(
            self._codes, self._offsets, self._ids, self._partners, self._tail, packed, radius)
        return _hits(lims, ids, distances)

    def join(self, queries: np.ndarray | bytes, radius: int = 31) -> Hits:
        """The answers of `search_many` for a large batch (a scan's PDQ hashes): the queries are indexed too and
        the index is streamed once against them, instead of probed query by query. Same answers, faster from a
        few thousand queries on (bench/pdq_index.py prints the ratio)."""
        packed = _check(queries, radius)
        if radius >= 48 or len(packed) < JOIN_FROM:
            return self.search_many(packed, radius)
        _, q_offsets, q_ids, q_partners = _tables(packed, self._backend)
        lims, ids, distances = self._backend.join(
            self._codes, self._offsets, self._ids, self._partners, self._tail,
            packed, q_offsets, q_ids, q_partners, radius)
        return _hits(lims, ids, distances)

    # --- files --------------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index (added codes merged first); written beside `path` and renamed into place."""
        self.merge()
        temporary = f"{os.fspath(path)}.part"
        with open(temporary, "wb") as out:
            out.write(HEADER.pack(MAGIC, FORMAT_VERSION, len(self._codes), TABLES))
            for block in (self._codes, self._offsets, self._ids, self._partners):
                if block.size:  # an empty block has nothing to write (and memoryview cannot cast it)
                    out.write(memoryview(np.ascontiguousarray(block)).cast("B"))
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True, backend: ModuleType = _mih) -> "PDQIndex":
        """Open a saved index (memory-mapped by default: no rebuild, pages read on use).

        Raises:
            ValueError: not a hashwarden PDQ index, another format version, or truncated.
        """
        file = Path(path)
        size = file.stat().st_size
        with open(file, "rb") as handle:
            head = handle.read(HEADER.size)
        if len(head) < HEADER.size:
            raise ValueError(f"{file}: too short for a PDQ index ({size} bytes)")
        magic, version, count, tables = HEADER.unpack(head)
        if magic != MAGIC:
            raise ValueError(f"{file}: not a hashwarden PDQ index")
        if version != FORMAT_VERSION or tables != TABLES:
            raise ValueError(f"{file}: PDQ index format {version}/{tables}, this hashwarden reads "
                             f"{FORMAT_VERSION}/{TABLES}: rebuild it")
        layout = _layout(count)
        expected = HEADER.size + sum(np.dtype(dtype).itemsize * int(np.prod(shape)) for dtype, shape in layout)
        if size != expected:
            raise ValueError(f"{file}: {size:,} bytes where the header promises {expected:,}: truncated or damaged")
        raw = np.memmap(file, dtype=np.uint8, mode="r") if mmap else np.fromfile(file, dtype=np.uint8)
        blocks, at = [], HEADER.size
        for dtype, shape in layout:
            length = np.dtype(dtype).itemsize * int(np.prod(shape))
            blocks.append(raw[at:at + length].view(dtype).reshape(shape))
            at += length
        return cls(*blocks, backend=backend)


def _layout(count: int) -> list[tuple[type, tuple[int, ...]]]:
    """dtype and shape of each block after the header, in file order (as `__init__` takes them)."""
    return [(np.uint8, (count, 32)), (np.uint32, (TABLES, BUCKETS + 1)), (np.uint32, (TABLES, count)),
            (np.uint16, (TABLES, count))]


def _tables(codes: np.ndarray, backend: ModuleType) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The codes and their 16 tables (bucket offsets, ids and partner halves in bucket order)."""
    if len(codes) >= 2**32 - 1:
        raise ValueError("2^32 codes or more: split the index")
    blocks = [np.empty(shape, dtype=dtype) for dtype, shape in _layout(len(codes))[1:]]
    backend.build(codes, *blocks)
    return (codes, *blocks)


def _check(queries: np.ndarray | bytes, radius: int) -> np.ndarray:
    if not 0 <= radius <= MAX_RADIUS:
        raise ValueError(f"radius must be between 0 and {MAX_RADIUS}, not {radius}")
    return as_codes(queries)


def _hits(lims: bytes, ids: bytes, distances: bytes) -> Hits:
    return Hits(np.frombuffer(lims, dtype=np.int64), np.frombuffer(ids, dtype=np.int64),
                np.frombuffer(distances, dtype=np.int32))


def save_with_rows(index: PDQIndex, rows: np.ndarray, path: str | os.PathLike[str], suffix: str) -> None:
    """`index` as `<path>.hwpdq` and `rows` (one int64 per code: whose code it is) as `<path>.<suffix>.npy`: the
    two files of a HammingIndex (entry ids) and of a VideoIndex (the video of each frame)."""
    index.save(f"{os.fspath(path)}.hwpdq")
    np.save(f"{os.fspath(path)}.{suffix}.npy", rows)


def load_with_rows(path: str | os.PathLike[str], suffix: str, what: str) -> tuple[PDQIndex, np.ndarray]:
    """Memory-map what `save_with_rows` wrote (nothing rebuilt).

    Raises:
        ValueError: files missing, unreadable or not agreeing with each other (`what` names the index).
    """
    try:
        index = PDQIndex.load(f"{os.fspath(path)}.hwpdq", mmap=True)
        rows = np.load(f"{os.fspath(path)}.{suffix}.npy", mmap_mode="r")
    except OSError as exc:
        raise ValueError(f"{path}: {what} unreadable ({exc})") from exc
    if rows.dtype != np.int64 or rows.shape != (len(index),):
        raise ValueError(f"{path}: {len(rows)} {suffix} rows for {len(index)} PDQ codes (truncated or mixed files)")
    return index, rows
