"""PDQIndex's radius, pinned (issue 16, mutation testing): the default is the match threshold (31, inclusive),
the accepted radii are exactly 0..256, and which path answers (probing, the batch join, the linear scan from 48)
is the documented one. A default one off misses every match at distance 31; the path choice is checked through
a recording backend, since every path gives the same answers by design."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hashwarden.config import PDQ_MATCH_THRESHOLD
from hashwarden.index import _mih
from hashwarden.index.pdq_index import JOIN_FROM, MAX_RADIUS, PDQIndex


def flipped(code: np.ndarray, bits: int) -> np.ndarray:
    out = np.unpackbits(code.copy())
    out[:bits] ^= 1
    return np.packbits(out)


@pytest.fixture(scope="module")
def ring() -> tuple[np.ndarray, np.ndarray]:
    """A query and codes at distances 0, 30, 31, 32 and 48 from it."""
    query = np.random.default_rng(16).integers(0, 256, size=32, dtype=np.uint8)
    return query, np.asarray([flipped(query, d) for d in (0, 30, 31, 32, 48)])


def recording_backend() -> tuple[SimpleNamespace, list[str]]:
    calls: list[str] = []

    def record(name: str):  # noqa: ANN202
        def call(*args):  # noqa: ANN002, ANN202
            calls.append(name)
            return getattr(_mih, name)(*args)
        return call
    return SimpleNamespace(build=_mih.build, search=record("search"), join=record("join")), calls


def test_the_default_radius_is_the_match_threshold_inclusive(ring) -> None:
    query, codes = ring
    index = PDQIndex.build(codes)
    assert PDQ_MATCH_THRESHOLD == 31
    expected = ([0, 1, 2], [0, 30, 31])
    ids, distances = index.search(query[None])[0]
    assert (ids.tolist(), distances.tolist()) == expected
    hits = index.search_many(query[None])
    assert (hits[0][0].tolist(), hits[0][1].tolist()) == expected
    hits = index.join(query[None])
    assert (hits[0][0].tolist(), hits[0][1].tolist()) == expected


@pytest.mark.parametrize("radius, found", [(0, [0]), (31, [0, 1, 2]), (47, [0, 1, 2, 3]), (48, [0, 1, 2, 3, 4]),
                                           (MAX_RADIUS, [0, 1, 2, 3, 4])])
def test_every_path_answers_within_the_radius_and_no_further(ring, radius: int, found: list[int]) -> None:
    query, codes = ring
    index = PDQIndex.build(codes)
    assert index.search(query[None], radius)[0][0].tolist() == found
    assert index.join(np.repeat(query[None], JOIN_FROM, axis=0), radius)[JOIN_FROM - 1][0].tolist() == found


def test_radius_bounds_are_0_and_256() -> None:
    assert MAX_RADIUS == 256
    index = PDQIndex.build(np.zeros((1, 32), np.uint8))
    query = np.full((1, 32), 255, np.uint8)  # distance 256 from the one code
    assert index.search(query, 256)[0][0].tolist() == [0]
    assert index.search(query, 0)[0][0].tolist() == []
    for radius in (-1, 257):
        for method in (index.search, index.search_many, index.join):
            with pytest.raises(ValueError, match=f"radius must be between 0 and 256, not {radius}"):
                method(query, radius)


def test_join_indexes_the_queries_from_join_from_and_below_48_only() -> None:
    assert JOIN_FROM == 1024
    backend, calls = recording_backend()
    index = PDQIndex.build(np.random.default_rng(1).integers(0, 256, size=(50, 32), dtype=np.uint8), backend)
    few, many = np.zeros((JOIN_FROM - 1, 32), np.uint8), np.zeros((JOIN_FROM, 32), np.uint8)
    for queries, radius in ((few, 31), (many, 31), (many, 47), (many, 48)):
        calls.clear()
        hits = index.join(queries, radius)
        assert len(hits) == len(queries)
        assert calls == (["join"] if queries is many and radius < 48 else ["search"]), (len(queries), radius)
