"""A Matcher shared by threads: the service's sync routes run `match_many` concurrently in a thread pool, on one
memory-mapped generation. The C backend (index/_mih.c) allocates its scratch per call and releases the GIL while
searching; this checks that concurrent answers are the sequential ones, for the probe-per-query path, the batch
join path (JOIN_FROM forms and more) and the exact and video indexes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from hashwarden.index import ExactIndex, HammingIndex
from hashwarden.index.generation import MatchIndexes
from hashwarden.index.pdq_index import JOIN_FROM
from hashwarden.index.video import VideoIndex
from hashwarden.scan.matcher import Matcher

RNG = np.random.default_rng(5)
KNOWN = RNG.integers(0, 256, size=(20_000, 32), dtype=np.uint8)
MD5 = RNG.integers(0, 256, size=(5_000, 16), dtype=np.uint8)


def mapped_matcher(directory: Path) -> Matcher:
    indexes = MatchIndexes(
        {"md5": ExactIndex(16, MD5.tobytes(), np.arange(50_000, 55_000, dtype=np.int64)),
         "sha1": ExactIndex.from_pairs(20, []), "sha256": ExactIndex.from_pairs(32, [])},
        HammingIndex(KNOWN.tobytes(), np.arange(len(KNOWN), dtype=np.int64)),
        VideoIndex([(60_000 + v, KNOWN[v * 10:v * 10 + 10]) for v in range(20)]))
    indexes.save(directory, "k")

    def describe(ids: list[int]) -> dict[int, dict[str, Any]]:
        return {i: {"set": f"s{i % 3}", "kind": "alert"} for i in ids}

    mapped = MatchIndexes.load(directory, "k")
    return Matcher(mapped.exact, mapped.pdq, describe, pdq_threshold=31, pdq_min_quality=50, videos=mapped.videos)


def batch(seed: int, size: int) -> list[dict[str, Any]]:
    """Items near known codes (some within the radius, some not), misses, digests and a video."""
    rng = np.random.default_rng(seed)
    items: list[dict[str, Any]] = []
    for _ in range(size):
        row = KNOWN[rng.integers(len(KNOWN))].copy()
        flips = rng.choice(256, size=int(rng.integers(0, 40)), replace=False)
        for bit in flips:
            row[bit // 8] ^= 1 << (bit % 8)
        item: dict[str, Any] = {"pdq": row.tobytes().hex(), "pdq_quality": 90}
        if rng.random() < 0.3:
            item["pdq_dihedral"] = [row.tobytes().hex()] + [rng.bytes(32).hex() for _ in range(7)]
        if rng.random() < 0.3:
            item["md5"] = (MD5[rng.integers(len(MD5))].tobytes() if rng.random() < 0.5 else rng.bytes(16)).hex()
        if rng.random() < 0.05:
            video = int(rng.integers(20))
            item["vpdq"] = [{"frame": f, "quality": 90, "pdq": KNOWN[video * 10 + f].tobytes().hex()}
                            for f in range(6)]
        items.append(item)
    return items


def test_concurrent_lookups_answer_as_sequential_ones(tmp_path: Path) -> None:
    matcher = mapped_matcher(tmp_path)
    # single items probe query by query; 600 items (some with 8 forms) pass JOIN_FROM and take the join
    batches = [batch(seed, 1 if seed % 3 else 600) for seed in range(48)]
    assert sum(len(i.get("pdq_dihedral") or [1]) for i in batches[0]) >= JOIN_FROM
    expected = [matcher.match_many([dict(i) for i in b]) for b in batches]
    assert sum(len(m) for answer in expected for m in answer) > 1000  # hits of every kind to compare
    assert any(m["method"] == "vpdq" for answer in expected for ms in answer for m in ms)
    work = [n % len(batches) for n in range(len(batches) * 4)]
    RNG.shuffle(work)
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda n: (n, matcher.match_many([dict(i) for i in batches[n]])), work))
    assert all(answer == expected[n] for n, answer in found)
