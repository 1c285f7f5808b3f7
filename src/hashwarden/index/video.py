"""Known videos matched by vPDQ: every known video's unique good frames in one `PDQIndex`, and upstream's two
percentages per candidate video.

Why one index for all videos: a query video's frames are then joined against every known frame at once (exact,
radius 31), and the hits are counted per video, instead of comparing the query with each known video in turn
(python-threatexchange's brute force costs ~0.7 s per query at 20 videos of 500 frames).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from hashwarden.config import (
    PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY, VPDQ_COMPARED_MATCH_PERCENT, VPDQ_QUERY_MATCH_PERCENT,
)
from hashwarden.index.pdq_index import PDQIndex, load_with_rows, save_with_rows
from hashwarden.signals.vpdq import VpdqFrame, unique_good


@dataclass(frozen=True)
class VideoMatch:
    """How much two videos match: `query_percent` of the query's unique good frames have a frame of the other
    within the distance, and `compared_percent` of the other's unique good frames have one in the query."""

    query_percent: float
    compared_percent: float

    def passes(self, query_percent: float = VPDQ_QUERY_MATCH_PERCENT,
               compared_percent: float = VPDQ_COMPARED_MATCH_PERCENT) -> bool:
        return self.query_percent >= query_percent and self.compared_percent >= compared_percent


class VideoIndex:
    """Unique good frame hashes of known videos (by id) in one PDQ index."""

    def __init__(self, videos: Iterable[tuple[int, np.ndarray]]) -> None:
        """`videos`: (video id, (N, 32) uint8 unique good frame hashes) pairs, e.g. from `unique_good`."""
        ids, blocks = [], []
        for video_id, codes in videos:
            if len(codes):
                ids.append(np.full(len(codes), video_id, dtype=np.int64))
                blocks.append(np.ascontiguousarray(codes, dtype=np.uint8))
        owner = np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)
        codes = np.concatenate(blocks) if blocks else np.empty((0, 32), dtype=np.uint8)
        self._use(PDQIndex.build(codes), owner)

    def _use(self, index: PDQIndex, owner: np.ndarray) -> None:
        self._index, self._owner = index, owner
        self._frames_of = dict(zip(*np.unique(owner, return_counts=True))) if len(owner) else {}

    def __len__(self) -> int:
        """Videos indexed."""
        return len(self._frames_of)

    def save(self, path: str | os.PathLike[str]) -> None:
        """`<path>.hwpdq` (every frame in one PDQIndex) and `<path>.owner.npy` (the video id of each frame)."""
        save_with_rows(self._index, self._owner, path, "owner")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "VideoIndex":
        """Memory-map an index written by `save` (only the frame count per video is computed again).

        Raises:
            ValueError: files missing, unreadable or not agreeing with each other.
        """
        frames, owner = load_with_rows(path, "owner", "video index")
        index = cls([])
        index._use(frames, owner)
        return index

    def match(self, frames: Iterable[VpdqFrame], *, distance: int = PDQ_MATCH_THRESHOLD,
              quality: int = PDQ_MIN_QUALITY) -> dict[int, VideoMatch]:
        """Every indexed video sharing at least one frame with the query, with the two percentages."""
        query = unique_good(frames, quality)
        if not len(query) or not len(self._frames_of):
            return {}
        rows, frame_ids, _ = self._index.join(query, distance).pairs()
        owners = self._owner[frame_ids]
        matches = {}
        for video_id in np.unique(owners).tolist():
            mine = owners == video_id
            matches[video_id] = VideoMatch(
                100.0 * len(np.unique(rows[mine])) / len(query),
                100.0 * len(np.unique(frame_ids[mine])) / int(self._frames_of[video_id]))
        return matches


def match_percentages(query: Iterable[VpdqFrame], compared: Iterable[VpdqFrame], *,
                      distance: int = PDQ_MATCH_THRESHOLD, quality: int = PDQ_MIN_QUALITY) -> VideoMatch:
    """Upstream's two percentages for one pair of videos."""
    found = VideoIndex([(0, unique_good(compared, quality))]).match(query, distance=distance, quality=quality)
    return found.get(0, VideoMatch(0.0, 0.0))
