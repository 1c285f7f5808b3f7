"""Matching an item's signals against every hash set: exact digests, PDQ within a Hamming radius, and for videos
vPDQ (the share of frames that match each way).

Its indexes are a cache of the store: read into memory (`from_store`), or mapped from an index generation on disk
(`from_indexes`, as `match_hashes.matcher_for` does: scan/index_generations.py); the same `read_indexes` fills both.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection, Engine

from hashwarden.config import (
    PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY, VPDQ_COMPARED_MATCH_PERCENT, VPDQ_QUERY_MATCH_PERCENT,
)
from hashwarden.index import ExactIndex, HammingIndex
from hashwarden.index.generation import MatchIndexes
from hashwarden.index.video import VideoIndex, VideoMatch
from hashwarden.index.known_filter import KnownFilter
from hashwarden.signals.crypto import DIGESTS
from hashwarden.signals.pdq import DIHEDRAL_NAMES
from hashwarden.signals.vpdq import VpdqFrame
from hashwarden.store.hashsets import describe_entries, iter_match_rows, iter_video_frames


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
        videos: VideoIndex | None = None,
        video_percents: tuple[float, float] = (VPDQ_QUERY_MATCH_PERCENT, VPDQ_COMPARED_MATCH_PERCENT),
        generation: str | None = None,
    ) -> None:
        self.generation = generation  # the index generation it answers from (None: built in memory)
        self._exact = exact
        self.known = known
        self._pdq = pdq
        self._videos = videos
        self._lookup = describe
        self.pdq_threshold = pdq_threshold
        self.pdq_min_quality = pdq_min_quality
        self.video_percents = video_percents  # (query %, compared %) a video match needs

    @classmethod
    def from_store(
        cls, engine: Engine, pdq_threshold: int = PDQ_MATCH_THRESHOLD, pdq_min_quality: int = PDQ_MIN_QUALITY,
        known: KnownFilter | None = None,
        video_percents: tuple[float, float] = (VPDQ_QUERY_MATCH_PERCENT, VPDQ_COMPARED_MATCH_PERCENT),
    ) -> "Matcher":
        """A Matcher over indexes read from the store now, in memory (`matcher_for` maps a generation on disk
        instead; both hold what `read_indexes` reads)."""
        indexes = read_indexes(engine, pdq_min_quality, ignorable_digests=known is None)
        return cls.from_indexes(indexes, engine, pdq_threshold, pdq_min_quality, known, video_percents)

    @classmethod
    def from_indexes(
        cls, indexes: MatchIndexes, engine: Engine, pdq_threshold: int = PDQ_MATCH_THRESHOLD,
        pdq_min_quality: int = PDQ_MIN_QUALITY, known: KnownFilter | None = None,
        video_percents: tuple[float, float] = (VPDQ_QUERY_MATCH_PERCENT, VPDQ_COMPARED_MATCH_PERCENT),
        generation: str | None = None,
    ) -> "Matcher":
        """A Matcher over ready indexes (`pdq_min_quality` must be the one they were read with); what a hit is
        (set, kind, category) is asked of `engine` when one happens."""
        def describe(entry_ids: list[int]) -> dict[int, dict[str, Any]]:
            with engine.connect() as conn:
                return describe_with_flags(conn, entry_ids)

        return cls(indexes.exact, indexes.pdq, describe, pdq_threshold, pdq_min_quality, known, indexes.videos,
                   video_percents, generation)

    def match(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """Matches of one item (its md5/sha1/sha256/pdq/pdq_quality/pdq_dihedral fields), in a stable order.

        An entry is listed once: by the strongest digest that matched it (sha256 > sha1 > md5), else by PDQ.
        """
        return self.match_many([item])[0]

    def match_many(self, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """`match` for many items: each index is searched once for the whole batch (a PDQ batch join, a hash list or
        scan at once, is several times faster than item by item), and the answers are built hit by hit, so an item
        without a hit costs a few dictionary reads (bench/service.py); the answers are the same."""
        found: dict[int, dict[int, dict[str, Any]]] = {}  # item number -> entry id -> how it matched
        self._exact_hits_many(items, found)
        self._pdq_hits_many(items, found)
        for number in [number for number, item in enumerate(items) if item.get("vpdq")]:
            for entry_id, video in self._video_hits(items[number]).items():
                found.setdefault(number, {}).setdefault(entry_id, {
                    "method": "vpdq", "query_percent": round(video.query_percent, 1),
                    "compared_percent": round(video.compared_percent, 1)})
        wanted = sorted({entry_id for how_by_entry in found.values() for entry_id in how_by_entry})
        details = self._lookup(wanted) if wanted else {}
        results: list[list[dict[str, Any]]] = [[] for _ in items]
        for number, how_by_entry in found.items():
            # An entry deleted since the generation was built has no details: it is no longer known (a lookup in
            # flight while its set is deleted), so it is left out rather than failing the whole batch.
            matches = [{**details[entry_id], **how, "entry": entry_id} for entry_id, how in how_by_entry.items()
                       if entry_id in details]
            matches.sort(key=lambda m: (m["kind"] != "alert", m.get("distance", 0), m["set"], m["entry"], m["method"]))
            results[number] = matches
        return results

    def _exact_hits_many(self, items: list[dict[str, Any]], found: dict[int, dict[int, dict[str, Any]]]) -> None:
        """Add to `found` each entry holding a digest of an item, by the strongest digest of the item that matched
        it (each digest's index searched once for the whole batch)."""
        for digest in DIGESTS:  # weakest to strongest: md5, sha1, sha256
            asked = [(number, bytes.fromhex(value)) for number, item in enumerate(items)
                     if (value := item.get(digest.name))]
            if not asked:
                continue
            numbers, keys = zip(*asked)
            hits = [self._exact[digest.name].find(keys)]
            if self.known is not None:
                hits.append(self.known.find(digest.name, keys))
            for key_numbers, entry_ids in hits:
                for key_number, entry_id in zip(key_numbers.tolist(), entry_ids.tolist()):
                    found.setdefault(numbers[key_number], {})[entry_id] = {"method": digest.name}

    def _pdq_hits_many(self, items: list[dict[str, Any]], found: dict[int, dict[int, dict[str, Any]]]) -> None:
        """Add to `found` each entry within the threshold of an item's PDQ forms, unless a digest matched it: the
        nearest form and its distance (one batch join for all the items' forms)."""
        asked = [(number, forms) for number, item in enumerate(items)
                 if item.get("pdq") and (forms := self._pdq_forms(item))]
        if not asked:
            return
        numbers, forms_asked = zip(*asked)
        for asked_number, entry_id, distance, form in zip(
                *(column.tolist() for column in self._pdq.hits_many(forms_asked, self.pdq_threshold))):
            how_by_entry = found.setdefault(numbers[asked_number], {})
            if entry_id not in how_by_entry:
                transform = DIHEDRAL_NAMES[form] if len(forms_asked[asked_number]) > 1 else "orig"
                how_by_entry[entry_id] = {"method": "pdq", "distance": distance, "transform": transform}

    def _video_hits(self, item: dict[str, Any]) -> dict[int, VideoMatch]:
        """Known videos the item's vPDQ frames match well enough (both percentages at their thresholds)."""
        frames = item.get("vpdq")
        if not frames or self._videos is None or not len(self._videos):
            return {}
        query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], f.get("timestamp", 0.0)) for f in frames]
        found = self._videos.match(query, distance=self.pdq_threshold, quality=self.pdq_min_quality)
        return {entry_id: video for entry_id, video in found.items() if video.passes(*self.video_percents)}

    def _pdq_forms(self, item: dict[str, Any]) -> list[bytes]:
        """The PDQ codes to look up for an item: its 8 dihedral forms (or the one hash), none below min quality.
        A hash without a quality (a list from elsewhere) is looked up, as store entries without one are indexed."""
        quality = item.get("pdq_quality")
        if not item.get("pdq") or (quality is not None and quality < self.pdq_min_quality):
            return []
        return [bytes.fromhex(h) for h in item.get("pdq_dihedral") or [item["pdq"]]]


def read_indexes(engine: Engine, pdq_min_quality: int, ignorable_digests: bool) -> MatchIndexes:
    """Read every entry's digests once (streamed) into the indexes; without `ignorable_digests`, the digests of
    ignorable sets are left out (a known-file filter holds them). PDQ codes below `pdq_min_quality` are not indexed."""
    keys = {d.name: bytearray() for d in DIGESTS}
    key_ids: dict[str, array] = {d.name: array("q") for d in DIGESTS}
    codes, code_ids = bytearray(), array("q")
    with engine.connect() as conn:
        for row in iter_match_rows(conn, ignorable_digests=ignorable_digests):
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
    with engine.connect() as conn:
        videos = VideoIndex(_unique_frames_by_entry(iter_video_frames(conn, pdq_min_quality)))
    return MatchIndexes(exact, pdq, videos)


def _unique_frames_by_entry(frames: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, np.ndarray]]:
    """(entry id, its distinct frame hashes as an (N, 32) array) from frames ordered by entry."""
    for entry_id, group in groupby(frames, key=itemgetter(0)):
        distinct = dict.fromkeys(pdq for _, pdq in group)
        yield entry_id, np.frombuffer(b"".join(distinct), dtype=np.uint8).reshape(-1, 32)


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


def describe_with_flags(conn: Connection, entry_ids: list[int]) -> dict[int, dict[str, Any]]:
    """`describe_entries`, plus the entry's `series` and `victim_identified` where the entry has them.

    The examiner's first questions about a known item are which series it belongs to and whether the child has been
    identified (an unidentified victim is a child still to be found), so the report carries both with the match.
    """
    return describe_entries(conn, entry_ids, flags=True)
