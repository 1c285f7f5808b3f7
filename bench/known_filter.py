"""Known-file filter speed at NSRL scale: 50M SHA-1s in an ignorable set, checked the way a scan checks them.

Measured, in one process (one core; numpy single-threaded by nature):
  build     writing the memory-mapped cache from 50M (digest, entry id) pairs (what a scan does once after an
            NSRL import changes the sets; the pairs come from arrays here, not streamed out of a database)
  load      `KnownFilter.open` of the cache (what every scan and every worker process does), median of 5
  batch     `contains_many` over 1M queries in batches of 100k, half of them members, half random
  single    `lookup` of one digest at a time, as a worker does per file, over 200k queries

Correctness every run: every answer of both lookups equals the truth (members were drawn from the set). Printed last:
`lookups/s per core (batch): N` and `load: S s`.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from hashwarden.index.known_filter import KnownFilter, build  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hashes", type=int, default=50_000_000)
    parser.add_argument("--queries", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}")
    rng = np.random.default_rng(20_261_126)
    digests = rng.integers(0, 256, size=(args.hashes, 20), dtype=np.uint8)
    ids = np.arange(args.hashes, dtype=np.int64)
    CACHE.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="known-filter-", dir=CACHE))
    try:
        start = time.perf_counter()
        build(work / "filter", {"sha1": (digests.view("S20").ravel(), ids)}, "bench")
        built = time.perf_counter() - start
        print(f"build: {args.hashes:,} SHA-1s in {built:.1f} s; cache {_size(work / 'filter') / 1e9:.2f} GB")
        loads = []
        for _ in range(5):
            start = time.perf_counter()
            known = KnownFilter.open(work / "filter")
            loads.append(time.perf_counter() - start)
        members = digests[rng.integers(0, args.hashes, size=args.queries // 2)]
        strangers = rng.integers(0, 256, size=(args.queries - len(members), 20), dtype=np.uint8)
        order = rng.permutation(args.queries)
        queries = np.concatenate([members, strangers])[order]
        # random 20-byte strangers collide with one of 50M digests with probability ~2^-134: the label is the truth
        is_member = np.concatenate([np.ones(len(members), bool), np.zeros(len(strangers), bool)])[order]
        known.contains_many("sha1", queries[:100_000])  # page in what the lookups touch, as a running scan has
        rounds = []
        for _ in range(3):
            start = time.perf_counter()
            answers = np.concatenate([known.contains_many("sha1", queries[offset:offset + 100_000])
                                      for offset in range(0, len(queries), 100_000)])
            rounds.append(time.perf_counter() - start)
        assert np.array_equal(answers, is_member), "batch lookups disagree with the truth"
        batch_rate = len(queries) / statistics.median(rounds)
        singles = [q.tobytes() for q in queries[:200_000]]
        start = time.perf_counter()
        single_answers = [bool(known.lookup("sha1", value)) for value in singles]
        single_rate = len(singles) / (time.perf_counter() - start)
        assert single_answers == is_member[:200_000].tolist(), "single lookups disagree with the truth"
        hits = int(answers.sum())
        print(f"batch: {batch_rate:,.0f} lookups/s (median of 3 rounds of {len(queries):,}; {hits:,} members)")
        print(f"single: {single_rate:,.0f} lookups/s (one digest per call, as a worker checks a file)")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB "
              "(includes the 50M generated digests held for the benchmark)")
        print(f"lookups/s per core (batch): {batch_rate:,.0f}")
        print(f"load: {statistics.median(loads):.4f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir())


if __name__ == "__main__":
    main()
