"""Matching an item's signals against every hash set: exact digests, and PDQ within a Hamming radius.

Built once per scan from the store into in-memory indexes (a cache of the store, never persisted).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection, Engine

from hashwarden.index import ExactIndex, HammingIndex
from hashwarden.index.known_filter import KnownFilter
from hashwarden.signals.crypto import DIGESTS
from hashwarden.signals.pdq import DIHEDRAL_NAMES
from hashwarden.store.hashsets import describe_entries, iter_match_rows, list_sets


class Matcher:
    """Indexes of one store snapshot, and the rules that turn hits into a status.

    Only digests and ids are held in memory (compact arrays, ~100 bytes per entry); what a hit is (set, kind,
    category) is asked of the store when a hit happens, which is rare next to the number of entries.
    """

    def __init__(
        self,
        exact: dict[str, ExactIndex],
        pdq: HammingIndex,
        describe: Callable[[list[int]], dict[int, dict[str, Any]]],
        pdq_threshold: int,
        pdq_min_quality: int,
        known: KnownFilter | None = None,
    ) -> None:
        self._exact = exact
        self.known = known
        self._pdq = pdq
        self._lookup = describe
        self.pdq_threshold = pdq_threshold
        self.pdq_min_quality = pdq_min_quality

    @classmethod
    def from_store(
        cls, engine: Engine, pdq_threshold: int, pdq_min_quality: int, known: KnownFilter | None = None
    ) -> "Matcher":
        """Read every entry's digests once (streamed) into the indexes; with a known-file filter, the digests of
        ignorable sets stay in the filter's memory-mapped cache instead."""
        keys = {d.name: bytearray() for d in DIGESTS}
        key_ids: dict[str, array] = {d.name: array("q") for d in DIGESTS}
        codes, code_ids = bytearray(), array("q")
        with engine.connect() as conn:
            for row in iter_match_rows(conn, ignorable_digests=known is None):
                for digest in DIGESTS:
                    value = getattr(row, digest.name)
                    if value:
                        keys[digest.name] += value
                        key_ids[digest.name].append(row.entry_id)
                if row.pdq and (row.pdq_quality is None or row.pdq_quality >= pdq_min_quality):
                    codes += row.pdq
                    code_ids.append(row.entry_id)
        exact = {
            d.name: ExactIndex(d.hex_length // 2, bytes(keys[d.name]), np.frombuffer(key_ids[d.name], np.int64))
            for d in DIGESTS
        }
        pdq = HammingIndex(bytes(codes), np.frombuffer(code_ids, np.int64))

        def describe(entry_ids: list[int]) -> dict[int, dict[str, Any]]:
            with engine.connect() as conn:
                return describe_entries(conn, entry_ids)

        return cls(exact, pdq, describe, pdq_threshold, pdq_min_quality, known)

    def match(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """Matches of one item (its md5/sha1/sha256/pdq/pdq_quality/pdq_dihedral fields), in a stable order.

        An entry is listed once: by the strongest digest that matched it (sha256 > sha1 > md5), else by PDQ.
        """
        return self.match_many([item])[0]

    def match_many(self, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """`match` for many items: their PDQ forms go through the index as one batch join (a whole hash list or
        scan at once is several times faster than item by item); the answers are the same."""
        pdq_forms = [self._pdq_forms(item) for item in items]
        pdq_hits = self._pdq.query_many(pdq_forms, self.pdq_threshold)
        found_per_item = []
        for item, forms, hits in zip(items, pdq_forms, pdq_hits):
            found = {entry_id: {"method": method} for entry_id, method in self._exact_hits(item).items()}
            for hit in hits:
                if hit.entry_id not in found:
                    transform = DIHEDRAL_NAMES[hit.query_index] if len(forms) > 1 else "orig"
                    found[hit.entry_id] = {"method": "pdq", "distance": hit.distance, "transform": transform}
            found_per_item.append(found)
        wanted = sorted({entry_id for found in found_per_item for entry_id in found})
        details = self._lookup(wanted) if wanted else {}
        results = []
        for found in found_per_item:
            matches = [{**details[entry_id], **how, "entry": entry_id} for entry_id, how in found.items()]
            matches.sort(key=lambda m: (m["kind"] != "alert", m.get("distance", 0), m["set"], m["entry"], m["method"]))
            results.append(matches)
        return results

    def _exact_hits(self, item: dict[str, Any]) -> dict[int, str]:
        """Entry id -> the strongest digest of the item that matched it."""
        exact: dict[int, str] = {}
        for digest in DIGESTS:  # weakest to strongest: md5, sha1, sha256
            value = item.get(digest.name)
            if value:
                key = bytes.fromhex(value)
                for entry_id in self._exact[digest.name].query(key):
                    exact[entry_id] = digest.name
                if self.known is not None:
                    for entry_id in self.known.lookup(digest.name, key):
                        exact[entry_id] = digest.name
        return exact

    def _pdq_forms(self, item: dict[str, Any]) -> list[bytes]:
        """The PDQ codes to look up for an item: its 8 dihedral forms (or the one hash), none below min quality.
        A hash without a quality (a list from elsewhere) is looked up, as store entries without one are indexed."""
        quality = item.get("pdq_quality")
        if not item.get("pdq") or (quality is not None and quality < self.pdq_min_quality):
            return []
        return [bytes.fromhex(h) for h in item.get("pdq_dihedral") or [item["pdq"]]]


def item_status(matches: list[dict[str, Any]], error: str | None) -> str:
    """known (an alert set matched) > ignorable (only ignorable sets) > error > unknown.

    An exact match decides even when decoding failed: a truncated copy of known material is still known.
    """
    kinds = {m["kind"] for m in matches}
    if "alert" in kinds:
        return "known"
    if "ignorable" in kinds:
        return "ignorable"
    return "error" if error else "unknown"


def sets_in_use(conn: Connection) -> list[dict[str, Any]]:
    """The hash sets a scan matched against, with versions and sizes, for the custody record."""
    return [
        {"name": s.name, "kind": s.kind, "source": s.source, "version": s.version,
         "category_scheme": s.category_scheme, "entries": s.entries}
        for s in list_sets(conn)
    ]
