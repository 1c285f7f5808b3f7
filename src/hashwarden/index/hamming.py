"""Store entries' PDQ codes for matching: entry ids over a `PDQIndex`, and a query's dihedral forms reduced to the
nearest one per entry.

An image is looked up by its 8 dihedral hashes (a rotated or mirrored copy of known material is still known), so a
match is per entry: the form that came nearest, and its distance. Recall is exact (see pdq_index.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hashwarden.index.pdq_index import Hits, PDQIndex, load_with_rows, save_with_rows


@dataclass(frozen=True)
class HammingHit:
    """An indexed entry within the radius of a query: its id, distance and which query form matched."""

    entry_id: int
    distance: int
    query_index: int


class HammingIndex:
    """256-bit codes -> entry ids; `query` returns every entry within a radius of any of the query codes."""

    def __init__(self, codes: bytes, ids: np.ndarray) -> None:
        """`codes` is the concatenation of len(ids) 32-byte PDQ codes."""
        if len(codes) != 32 * len(ids):
            raise ValueError(f"{len(codes)} code bytes do not make {len(ids)} PDQ codes of 32 bytes")
        self._index = PDQIndex.build(np.frombuffer(codes, dtype=np.uint8).reshape(-1, 32))
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

    def save(self, path: str | os.PathLike[str]) -> None:
        """`<path>.hwpdq` (the PDQIndex file) and `<path>.ids.npy` (entry id per row)."""
        save_with_rows(self._index, self._ids, path, "ids")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "HammingIndex":
        """Memory-map an index written by `save` (nothing rebuilt).

        Raises:
            ValueError: files missing, unreadable or not agreeing with each other.
        """
        tables, ids = load_with_rows(path, "ids", "PDQ index")
        index = cls(b"", np.empty(0, dtype=np.int64))
        index._index, index._ids = tables, ids
        return index

    def query(self, codes: Sequence[bytes], radius: int) -> list[HammingHit]:
        """For each indexed code, the nearest of `codes` if within `radius` (one hit per entry)."""
        return self.query_many([codes], radius)[0]

    def query_many(self, items: Sequence[Sequence[bytes]], radius: int) -> list[list[HammingHit]]:
        """`query` for many items at once (each a list of forms): one batch join over all their forms, which is
        several times faster than item by item for a scan's worth of hashes."""
        found: list[list[HammingHit]] = [[] for _ in items]
        for item, entry_id, distance, form in zip(*(column.tolist() for column in self.hits_many(items, radius))):
            found[item].append(HammingHit(entry_id, distance, form))
        return found

    def hits_many(self, items: Sequence[Sequence[bytes]], radius: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The hits of `query_many` as four arrays, (item number, entry id, distance, form number) per hit, in its
        order: a caller that builds its answers hit by hit (Matcher.match_many) makes no list per item."""
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
        owners = np.repeat(np.arange(len(items), dtype=np.int64), lengths)
        # each form's number within its item, without an array per item (a 1,000-item lookup made 1,000)
        form_numbers = np.arange(len(owners), dtype=np.int64) - (np.cumsum(lengths) - lengths)[owners]
        if not len(self._ids) or not len(owners):
            nothing = np.empty(0, dtype=np.int64)
            return nothing, nothing, nothing, nothing
        queries = np.frombuffer(b"".join(code for forms in items for code in forms), dtype=np.uint8).reshape(-1, 32)
        hits: Hits = self._index.join(queries, radius)
        query, row, distance = hits.pairs()
        item, form = owners[query], form_numbers[query]
        # Nearest form per (item, entry): sort by item, entry, distance, form; keep the first of each pair.
        order = np.lexsort((form, distance, row, item))
        item, row, distance, form = item[order], row[order], distance[order], form[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (item[1:] != item[:-1]) | (row[1:] != row[:-1])
        return (item[first], np.asarray(self._ids)[row[first]].astype(np.int64), distance[first].astype(np.int64),
                form[first])
