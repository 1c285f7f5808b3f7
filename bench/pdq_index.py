"""PDQ range search at scale: hashwarden's PDQIndex against faiss, side by side, exact recall checked every run.

Data (seeded): the ThreatExchange regression haystack, clustered synthetic codes (random centres with near-copies
at distances 0-40, as real PDQ hashes cluster), and uniform random codes to reach N (default 1M; `--n 10000000`
for the issue's 10M target). Queries, one core (`OMP_NUM_THREADS=1`):
  miss   codes with no neighbour within 31 (the common case in a scan)
  hit    codes with 1-10 planted neighbours at distances 0-31
Compared, each on the same codes and queries, radius 31:
  hashwarden PDQIndex          build, then search (batched API, one query after another inside)
  faiss IndexBinaryFlat        brute-force range_search (what HMA-style deployments fall back to)
  faiss IndexBinaryMultiHash   (256, 16 maps, 16 bits): the multi-index hashing HMA uses
Recall: every hashwarden answer equals faiss flat's (exact by construction) on all queries.
Printed: build s, q/s per kind, peak RSS, and `ratio hashwarden / faiss flat (miss): X.XXx`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from hashwarden.index.pdq_index import PDQIndex  # noqa: E402

HAYSTACK = ROOT.parent / "shared" / "conformance" / "threatexchange" / "pdq" / "data" / "reg-test-input" / "haystack.txt"


def dataset(n: int, rng: np.random.Generator) -> np.ndarray:
    haystack = [bytes.fromhex(line.split(",")[0]) for line in HAYSTACK.read_text().split() if line.strip()]
    parts = [np.frombuffer(b"".join(haystack), dtype=np.uint8).reshape(-1, 32)]
    centres = rng.integers(0, 256, size=(max(1, n // 100), 32), dtype=np.uint8)
    copies = np.repeat(centres, 9, axis=0)
    bits = np.unpackbits(copies, axis=1)
    for row, flips in enumerate(rng.integers(0, 41, size=len(copies))):
        bits[row, rng.choice(256, size=flips, replace=False)] ^= 1
    parts += [centres, np.packbits(bits, axis=1)]
    have = sum(len(p) for p in parts)
    parts.append(rng.integers(0, 256, size=(max(0, n - have), 32), dtype=np.uint8))
    return np.concatenate(parts)[:n]


def planted_queries(codes: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Queries near existing codes (distance 0-31): each has at least one neighbour."""
    picked = codes[rng.integers(0, len(codes), size=count)]
    bits = np.unpackbits(picked, axis=1)
    for row, flips in enumerate(rng.integers(0, 32, size=count)):
        bits[row, rng.choice(256, size=flips, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def peak_mb() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(20_261_126)
    codes = dataset(args.n, rng)
    misses = rng.integers(0, 256, size=(args.queries, 32), dtype=np.uint8)
    hits = planted_queries(codes, args.queries, rng)
    print(f"{len(codes):,} codes; {args.queries:,} miss and {args.queries:,} hit queries; radius 31; one core")

    start = time.perf_counter()
    index = PDQIndex.build(codes)
    print(f"hashwarden PDQIndex build: {time.perf_counter() - start:.1f} s; peak RSS so far {peak_mb():,.0f} MB")
    ours = {}
    answers = {}
    for kind, queries in (("miss", misses), ("hit", hits)):
        start = time.perf_counter()
        answers[kind] = index.search(queries, 31)
        ours[kind] = len(queries) / (time.perf_counter() - start)
        print(f"hashwarden {kind}: {ours[kind]:,.0f} queries/s")

    try:
        import faiss
    except ImportError:
        print("faiss not installed (make bench installs the bench extra): no baseline, no recall check")
        return
    faiss.omp_set_num_threads(1)
    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)
    theirs = {}
    for kind, queries in (("miss", misses), ("hit", hits)):
        start = time.perf_counter()
        lims, distances, labels = flat.range_search(queries, 32)  # faiss: strictly less than the radius
        theirs[kind] = len(queries) / (time.perf_counter() - start)
        for q in range(len(queries)):
            expected = sorted(zip(labels[lims[q]:lims[q + 1]].tolist(), distances[lims[q]:lims[q + 1]].tolist()))
            got = list(zip(*(a.tolist() for a in answers[kind][q]))) if len(answers[kind][q][0]) else []
            assert got == expected, f"recall differs from brute force on {kind} query {q}"
        print(f"faiss IndexBinaryFlat {kind}: {theirs[kind]:,.0f} queries/s (recall of hashwarden: 100 %)")
    start = time.perf_counter()
    mih = faiss.IndexBinaryMultiHash(256, 16, 16)
    mih.add(codes)
    print(f"faiss IndexBinaryMultiHash build: {time.perf_counter() - start:.1f} s")
    for kind, queries in (("miss", misses), ("hit", hits)):
        start = time.perf_counter()
        mih.range_search(queries, 32)
        print(f"faiss IndexBinaryMultiHash {kind}: {len(queries) / (time.perf_counter() - start):,.0f} queries/s")
    print(f"peak RSS {peak_mb():,.0f} MB (all three indexes and the data)")
    print(f"ratio hashwarden / faiss flat (miss): {ours['miss'] / theirs['miss']:.2f}x")
    print(f"ratio hashwarden / faiss flat (hit): {ours['hit'] / theirs['hit']:.2f}x")


if __name__ == "__main__":
    main()
