"""PDQIndex: exact recall against brute force (random and clustered codes, radii 0-31 and above), incremental
adds, save/load (mapped), and bad input refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashwarden.index import pdq_index
from hashwarden.index.pdq_index import Hits, PDQIndex


def _brute(codes: np.ndarray, query: np.ndarray, radius: int) -> tuple[list[int], list[int]]:
    distances = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
    ids = np.flatnonzero(distances <= radius)
    return ids.tolist(), distances[ids].tolist()


def _clustered(rng: np.random.Generator, centres: int, copies: int, max_flip: int) -> np.ndarray:
    """Random centres with near-copies at distances 0..max_flip (real PDQ hashes cluster like this)."""
    out = []
    for _ in range(centres):
        centre = rng.integers(0, 256, size=32, dtype=np.uint8)
        out.append(centre)
        for _ in range(copies):
            bits = np.unpackbits(centre)
            flips = rng.choice(256, size=int(rng.integers(0, max_flip + 1)), replace=False)
            bits[flips] ^= 1
            out.append(np.packbits(bits))
    return np.asarray(out, dtype=np.uint8)


def _near(rng: np.random.Generator, code: np.ndarray, distance: int) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(256, size=distance, replace=False)] ^= 1
    return np.packbits(bits)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), radius=st.integers(0, 31), clustered=st.booleans())
def test_exact_recall_against_brute_force(seed: int, radius: int, clustered: bool) -> None:
    rng = np.random.default_rng(seed)
    codes = _clustered(rng, 40, 12, 40) if clustered else rng.integers(0, 256, size=(500, 32), dtype=np.uint8)
    index = PDQIndex.build(codes)
    queries = np.asarray([_near(rng, codes[int(rng.integers(len(codes)))], int(rng.integers(0, 40)))
                          for _ in range(20)] + [rng.integers(0, 256, size=32, dtype=np.uint8)])
    for query, (ids, distances) in zip(queries, index.search(queries, radius)):
        assert (ids.tolist(), distances.tolist()) == _brute(codes, query, radius)


def test_radius_above_31_is_exact_too_and_limits_are_checked() -> None:
    rng = np.random.default_rng(7)
    codes = _clustered(rng, 10, 10, 60)
    index = PDQIndex.build(codes)
    for radius in (32, 47, 64):
        ids, distances = index.search(codes[:3], radius)[1]
        assert (ids.tolist(), distances.tolist()) == _brute(codes, codes[1], radius)
    with pytest.raises(ValueError, match="radius"):
        index.search(codes[:1], 257)


def test_add_is_searchable_at_once_and_after_merge(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    first, second = _clustered(rng, 20, 5, 20), _clustered(rng, 20, 5, 20)
    index = PDQIndex.build(first)
    index.add(second)
    both = np.concatenate([first, second])
    queries = both[::7]
    expected = [_brute(both, q, 31) for q in queries]
    assert [(i.tolist(), d.tolist()) for i, d in index.search(queries, 31)] == expected
    index.save(tmp_path / "x.pdqidx")
    for mapped in (True, False):
        loaded = PDQIndex.load(tmp_path / "x.pdqidx", mmap=mapped)
        assert len(loaded) == len(both)
        assert [(i.tolist(), d.tolist()) for i, d in loaded.search(queries, 31)] == expected


def test_empty_index_and_bad_input(tmp_path: Path) -> None:
    empty = PDQIndex.build(np.empty((0, 32), dtype=np.uint8))
    assert len(empty) == 0 and [len(ids) for ids, _ in empty.search(np.zeros((2, 32), np.uint8))] == [0, 0]
    with pytest.raises(ValueError, match=r"\(N, 32\) uint8"):
        PDQIndex.build(np.zeros((3, 31), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 32\) uint8"):
        PDQIndex.build(np.zeros((3, 32), dtype=np.int64))
    with pytest.raises(ValueError, match="whole 32-byte"):
        PDQIndex.build(b"\0" * 33)
    index = PDQIndex.build(np.random.default_rng(1).integers(0, 256, size=(100, 32), dtype=np.uint8))
    path = tmp_path / "i.pdqidx"
    index.save(path)
    whole = path.read_bytes()
    path.write_bytes(whole[:-100])
    with pytest.raises(ValueError, match="truncated"):
        PDQIndex.load(path)
    path.write_bytes(b"NOTANIDX" + whole[8:])
    with pytest.raises(ValueError, match="not a hashwarden PDQ index"):
        PDQIndex.load(path)
    path.write_bytes(whole[:8] + (99).to_bytes(4, "little") + whole[12:])
    with pytest.raises(ValueError, match="format 99"):
        PDQIndex.load(path)


def test_threatexchange_haystack_needles(conformance: Path) -> None:
    """The ThreatExchange regression haystack: every needle finds what brute force finds (both files must be there:
    a missing one fails, it is not replaced)."""
    folder = conformance / "threatexchange" / "pdq" / "data" / "reg-test-input"
    read = lambda name: np.frombuffer(  # noqa: E731
        b"".join(bytes.fromhex(line.split(",")[0].strip())
                 for line in (folder / name).read_text().splitlines() if line.strip()), dtype=np.uint8).reshape(-1, 32)
    haystack, needles = read("haystack.txt"), read("needles.txt")
    assert (len(haystack), len(needles)) == (1350, 100)  # as the conformance README lists them
    index = PDQIndex.build(haystack)
    results = index.search(needles, 31)
    assert len(results) == len(needles)
    for needle, (ids, distances) in zip(needles, results):
        assert (ids.tolist(), distances.tolist()) == _brute(haystack, needle, 31)
    # what brute force finds in these files: each needle has near copies there, 250 pairs, 50 of them exact
    assert all(len(ids) for ids, _ in results)
    assert sum(len(ids) for ids, _ in results) == 250
    assert sum(int((distances == 0).sum()) for _, distances in results) == 50


@pytest.fixture(params=[True, False], ids=["avx2", "plain"])
def simd(request: pytest.FixtureRequest):  # noqa: ANN201 - fixture
    """Both bucket scans of the backend: the AVX2 one where the CPU has it, and the portable loop. On a CPU without
    AVX2 the "avx2" case still runs (nothing is skipped), and asserts that the backend reports the fallback."""
    from hashwarden.index import _mih

    was = _mih.simd(request.param)
    in_use = _mih.simd(request.param)  # returns whether AVX2 was in use: i.e. what the call above chose
    assert in_use == (request.param and _cpu_has_avx2()), f"asked for AVX2={request.param}, backend uses {in_use}"
    yield in_use
    _mih.simd(was)


def _cpu_has_avx2() -> bool:
    """What the kernel says the CPU does (the backend asks the CPU itself, through __builtin_cpu_supports)."""
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return {"avx2", "popcnt"} <= set(flags.split())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), radius=st.integers(0, 47), clustered=st.booleans())
def test_join_equals_brute_force(seed: int, radius: int, clustered: bool) -> None:
    """The batch join gives exactly the brute-force answers (radii past 31 too), tail of added codes included."""
    rng = np.random.default_rng(seed)
    codes = _clustered(rng, 30, 15, 40) if clustered else rng.integers(0, 256, size=(400, 32), dtype=np.uint8)
    index = PDQIndex.build(codes[:300])
    index.add(codes[300:])
    queries = np.asarray([_near(rng, codes[int(rng.integers(len(codes)))], int(rng.integers(0, 48)))
                          for _ in range(60)] + [rng.integers(0, 256, size=32, dtype=np.uint8)] * 2)
    joined = _join_always(index, queries, radius)
    for q, query in enumerate(queries):
        ids, distances = joined[q]
        assert (ids.tolist(), distances.tolist()) == _brute(codes, query, radius)


def _join_always(index: PDQIndex, queries: np.ndarray, radius: int) -> Hits:
    """`join` on any number of queries (it probes query by query below JOIN_FROM)."""
    saved, pdq_index.JOIN_FROM = pdq_index.JOIN_FROM, 0
    try:
        return index.join(queries, radius)
    finally:
        pdq_index.JOIN_FROM = saved


def test_both_bucket_scans_and_crowded_buckets(simd: bool) -> None:
    """Buckets far longer than a SIMD step (thousands of near-identical codes, lengths not multiples of 16) and
    the portable scan give the same exact answers."""
    rng = np.random.default_rng(11)
    centre = rng.integers(0, 256, size=32, dtype=np.uint8)
    codes = np.concatenate([np.tile(centre, (3001, 1)), [_near(rng, centre, d % 40) for d in range(997)],
                            rng.integers(0, 256, size=(2000, 32), dtype=np.uint8)])
    index = PDQIndex.build(codes)
    queries = np.asarray([centre, _near(rng, centre, 5), _near(rng, centre, 31), codes[-1]])
    for radius in (0, 8, 31, 40, 47):
        searched, joined = index.search(queries, radius), _join_always(index, queries, radius)
        for q, query in enumerate(queries):
            expected = _brute(codes, query, radius)
            assert (searched[q][0].tolist(), searched[q][1].tolist()) == expected
            assert (joined[q][0].tolist(), joined[q][1].tolist()) == expected
