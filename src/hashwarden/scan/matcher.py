"""Matching an item's signals against every hash set: exact digests, and PDQ within a Hamming radius.

Built once per scan from the store into in-memory indexes (a cache of the store, never persisted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from hashwarden.index import ExactIndex, HammingIndex
from hashwarden.signals.crypto import DIGESTS
from hashwarden.signals.pdq import DIHEDRAL_NAMES
from hashwarden.store.hashsets import MatchRow, iter_match_rows, list_sets


@dataclass(frozen=True)
class _EntryInfo:
    set_name: str
    kind: str
    category: str | None
    scheme: str | None


class Matcher:
    """Indexes of one store snapshot, and the rules that turn hits into a status."""

    def __init__(self, rows: list[MatchRow], pdq_threshold: int, pdq_min_quality: int) -> None:
        self.pdq_threshold = pdq_threshold
        self.pdq_min_quality = pdq_min_quality
        self._info = {r.entry_id: _EntryInfo(r.set_name, r.kind, r.category, r.scheme) for r in rows}
        self._exact = {
            d.name: ExactIndex(d.hex_length // 2, ((getattr(r, d.name), r.entry_id) for r in rows if getattr(r, d.name)))
            for d in DIGESTS
        }
        usable = (r for r in rows if r.pdq and (r.pdq_quality is None or r.pdq_quality >= pdq_min_quality))
        self._pdq = HammingIndex((r.pdq, r.entry_id) for r in usable)

    @classmethod
    def from_store(cls, conn: Connection, pdq_threshold: int, pdq_min_quality: int) -> "Matcher":
        return cls(list(iter_match_rows(conn)), pdq_threshold, pdq_min_quality)

    def __len__(self) -> int:
        return len(self._info)

    def match(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """Matches of one item (its md5/sha1/sha256/pdq/pdq_quality/pdq_dihedral fields), in a stable order.

        An entry is listed once: by the strongest digest that matched it (sha256 > sha1 > md5), else by PDQ.
        """
        matches: list[dict[str, Any]] = []
        exact: dict[int, str] = {}  # entry id -> the strongest digest that matched it
        for digest in DIGESTS:  # weakest to strongest: md5, sha1, sha256
            value = item.get(digest.name)
            if value:
                for entry_id in self._exact[digest.name].query(bytes.fromhex(value)):
                    exact[entry_id] = digest.name
        matches.extend(self._describe(entry_id, method) for entry_id, method in exact.items())
        exact_ids = set(exact)
        quality = item.get("pdq_quality")
        if item.get("pdq") and quality is not None and quality >= self.pdq_min_quality:
            forms = item.get("pdq_dihedral") or [item["pdq"]]
            hits = self._pdq.query([bytes.fromhex(h) for h in forms], self.pdq_threshold)
            for hit in hits:
                if hit.entry_id in exact_ids:
                    continue
                found = self._describe(hit.entry_id, "pdq")
                found["distance"] = hit.distance
                found["transform"] = DIHEDRAL_NAMES[hit.query_index] if len(forms) > 1 else "orig"
                matches.append(found)
        matches.sort(key=lambda m: (m["kind"] != "alert", m.get("distance", 0), m["set"], m["entry"], m["method"]))
        return matches

    def _describe(self, entry_id: int, method: str) -> dict[str, Any]:
        info = self._info[entry_id]
        return {
            "set": info.set_name, "kind": info.kind, "method": method,
            "category": info.category, "scheme": info.scheme, "entry": entry_id,
        }


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
