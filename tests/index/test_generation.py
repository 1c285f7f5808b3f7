"""Index generation files (index/generation.py): what is saved is what is mapped back, damaged or foreign files are
refused, concurrent builders build once, old generations are pruned."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hashwarden.index import ExactIndex, HammingIndex
from hashwarden.index.generation import KEEP, MatchIndexes, open_or_build
from hashwarden.index.video import VideoIndex

RNG = np.random.default_rng(17)
CODES = RNG.integers(0, 256, size=(300, 32), dtype=np.uint8)


def sample() -> MatchIndexes:
    """Digests (one ending in a zero byte, one shared by two entries), PDQ codes and two videos."""
    md5 = [bytes(15) + b"\x00", b"\x01" * 16, b"\x01" * 16, RNG.bytes(16)]
    exact = {"md5": ExactIndex.from_pairs(16, zip(md5, [4, 2, 3, 1])),
             "sha1": ExactIndex.from_pairs(20, [(b"\x02" * 20, 5)]),
             "sha256": ExactIndex.from_pairs(32, [])}
    pdq = HammingIndex(CODES.tobytes(), np.arange(100, 400, dtype=np.int64))
    videos = VideoIndex([(7, CODES[:5]), (9, CODES[5:8])])
    return MatchIndexes(exact, pdq, videos)


def near(rows: np.ndarray, bits: int) -> list[bytes]:
    out = rows.copy()
    out[:, 0] ^= (1 << bits) - 1
    return [bytes(r) for r in out]


def test_saved_indexes_map_back_with_the_same_answers(tmp_path: Path) -> None:
    built = sample()
    built.save(tmp_path, "k1")
    mapped = MatchIndexes.load(tmp_path, "k1")
    assert isinstance(mapped.pdq._ids, np.memmap) and isinstance(mapped.exact["md5"]._ids, np.memmap)
    for name, index in built.exact.items():
        probes = [bytes(15) + b"\x00", b"\x01" * 16, b"\x02" * 20, bytes(16), bytes(32)]
        assert [mapped.exact[name].query(p) for p in probes] == [index.query(p) for p in probes]
    assert mapped.exact["md5"].query(bytes(16)) == [4] and sorted(mapped.exact["md5"].query(b"\x01" * 16)) == [2, 3]
    queries = [[q] for q in near(CODES[::7], 5)] + [near(CODES[3:4], 3) + near(CODES[9:10], 2)]
    assert mapped.pdq.query_many(queries, 31) == built.pdq.query_many(queries, 31)
    assert sum(map(len, mapped.pdq.query_many(queries, 31))) >= len(queries)
    from hashwarden.signals.vpdq import VpdqFrame
    frames = [VpdqFrame(i, 90, bytes(c).hex(), 0.0) for i, c in enumerate(CODES[:3])]
    assert mapped.videos.match(frames) == built.videos.match(frames) and set(mapped.videos.match(frames)) == {7}
    assert len(mapped.videos) == 2


def test_another_key_a_damaged_file_or_a_wrong_count_is_refused(tmp_path: Path) -> None:
    sample().save(tmp_path, "k1")
    with pytest.raises(ValueError, match="wanted 'k2'"):
        MatchIndexes.load(tmp_path, "k2")
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "counts": {**meta["counts"], "pdq": 299}}))
    with pytest.raises(ValueError, match="meta.json says"):
        MatchIndexes.load(tmp_path, "k1")
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    data = (tmp_path / "pdq.hwpdq").read_bytes()
    (tmp_path / "pdq.hwpdq").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated"):
        MatchIndexes.load(tmp_path, "k1")
    (tmp_path / "pdq.hwpdq").write_bytes(data)
    np.save(tmp_path / "sha1.ids.npy", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="do not agree"):
        MatchIndexes.load(tmp_path, "k1")
    with pytest.raises(ValueError, match="not an index generation"):
        MatchIndexes.load(tmp_path / "absent", "k1")


def test_a_fence_table_of_other_keys_is_refused(tmp_path: Path) -> None:
    """Fences of as many keys, from other files, are found out by the keys beside them (checked on load)."""
    rng = np.random.default_rng(3)
    index, other = (ExactIndex.from_pairs(16, ((rng.bytes(16), i) for i in range(4000))) for _ in range(2))
    index.save(tmp_path / "md5")
    key = index._keys.view(np.uint8).reshape(-1, 16)[7].tobytes()  # S-dtype scalars lose trailing NUL bytes
    assert ExactIndex.load(tmp_path / "md5", 16).query_many([key]) == [[int(index._ids[7])]]
    np.save(tmp_path / "md5.fences.npy", other._fences)
    with pytest.raises(ValueError, match="do not agree"):
        ExactIndex.load(tmp_path / "md5", 16)


@pytest.mark.parametrize("fences", [None, np.zeros(2, dtype=np.int64), np.array([0, 3], dtype=np.int32),
                                    np.array([0, 5], dtype=np.int64)])
def test_an_exact_index_without_its_own_fence_table_is_refused(tmp_path: Path, fences: np.ndarray | None) -> None:
    """A fence table sends each probe to its keys: one missing (a generation of the format before fences), of
    another count or type is refused, not searched (it would answer "not known" for known digests)."""
    sample().save(tmp_path, "k1")
    assert np.load(tmp_path / "md5.fences.npy").tolist() == [0, 4]
    if fences is None:
        (tmp_path / "md5.fences.npy").unlink()
    else:
        np.save(tmp_path / "md5.fences.npy", fences)
    with pytest.raises(ValueError, match="md5: exact index"):
        MatchIndexes.load(tmp_path, "k1")


def _build_concurrently(root: str, log: str, start: Any, sizes: Any) -> None:
    def build() -> MatchIndexes:
        with open(log, "a") as out:
            out.write("built\n")
        return sample()

    start.wait()  # all four ask at once
    sizes.put(len(open_or_build(Path(root), "shared", build).pdq))


def test_concurrent_builders_build_once_and_all_open_the_winner_s(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start, sizes = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_build_concurrently, args=(str(tmp_path / "gens"), str(tmp_path / "log"),
                                                                 start, sizes)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [worker.exitcode for worker in workers] == [0] * 4
    assert sorted(sizes.get(timeout=60) for _ in workers) == [300] * 4
    assert (tmp_path / "log").read_text() == "built\n"
    assert sorted(p.name for p in (tmp_path / "gens").iterdir()) == [".lock", "shared"]


def test_a_failed_build_publishes_nothing_and_old_generations_are_pruned(tmp_path: Path) -> None:
    def failing() -> MatchIndexes:
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError):
        open_or_build(tmp_path, "k0", failing)
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # no half-written generation left behind
    opened = {}
    for key in ("k1", "k2", "k3"):
        opened[key] = open_or_build(tmp_path, key, sample)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["k2", "k3"] and KEEP == 2
    # a process still mapping the pruned generation keeps answering from it (Linux keeps unlinked mapped files)
    assert opened["k1"].exact["sha1"].query(b"\x02" * 20) == [5]
    # a damaged copy under the current key is rebuilt, not trusted
    (tmp_path / "k3" / "meta.json").write_text("{}")
    assert len(open_or_build(tmp_path, "k3", sample).pdq) == 300
