"""PDQ range search at scale: hashwarden's PDQIndex against faiss, side by side, exact recall checked every run.

Data (seeded): the ThreatExchange regression haystack, PDQ hashes of generated images (the 794-image set of the
engine tests is too slow to make here, so 2,000 small gradient/noise images hashed with our engine), clustered
synthetic codes (random centres with 9 near-copies each at distances 0-40, as real PDQ hashes cluster), and
uniform random codes to reach N (default 10M, the issue's target; `--n 1000000`, `--n 100000000`).
Queries (radius 31, one core: OMP_NUM_THREADS=1 and faiss.omp_set_num_threads(1) for every timing):
  miss   uniform random codes, none within 31 of anything (the common case in a scan)
  hit    codes 0-31 bits away from indexed ones (1-10+ neighbours each, more inside clusters)
Measured:
  hashwarden PDQIndex          build; search query after query (`search_many`); load of the saved index (mapped)
                               and the peak RSS of a fresh process that loads it and answers the queries
  hashwarden join              a scan's worth of hashes (`--scan` codes, 1 % near known ones) matched at once,
                               against `search_many` over the same codes (the query-by-query baseline)
  faiss IndexBinaryFlat        brute-force range_search on `--flat-queries` of each kind (it runs ~25 ms/query at
                               10M, so all 2 x `--queries` would take minutes); it is also the recall oracle:
                               every hashwarden answer on all queries must equal it (checked with 2 threads,
                               untimed)
  faiss IndexBinaryMultiHash   (256, 16 maps, 16 bits): the multi-index hashing HMA uses; `--no-mih` skips it
                               (at 100M it needs ~30 GB)
Printed: build s, q/s per kind, load s, RSS, and the ratios against faiss flat, faiss MIH and query-by-query.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from hashwarden.index.pdq_index import PDQIndex  # noqa: E402

HAYSTACK = ROOT.parent / "shared" / "conformance" / "threatexchange" / "pdq" / "data" / "reg-test-input" / "haystack.txt"


def generated_image_hashes(count: int, rng: np.random.Generator) -> np.ndarray:
    """PDQ codes of small generated images (gradients with noise and shapes): real PDQ structure, benign pixels."""
    from hashwarden.signals.image import Pixels
    from hashwarden.signals.pdq import DEFAULT_ENGINE

    codes = []
    for _ in range(count):
        base = np.linspace(0, 255, 128)[None, :] * rng.random() + np.linspace(0, 255, 96)[:, None] * rng.random()
        pixels = np.clip(base + rng.normal(0, 40 * rng.random(), size=(96, 128)), 0, 255).astype(np.uint8)
        y, x = rng.integers(0, 60), rng.integers(0, 90)
        pixels[y:y + 30, x:x + 30] = rng.integers(0, 256)
        rgb = np.repeat(pixels[:, :, None], 3, axis=2)
        codes.append(bytes.fromhex(DEFAULT_ENGINE.hash_pixels(Pixels.from_rgb(rgb)).hash))
    return np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(-1, 32)


def dataset(n: int, rng: np.random.Generator) -> np.ndarray:
    haystack = [bytes.fromhex(line.split(",")[0]) for line in HAYSTACK.read_text().split() if line.strip()]
    parts = [np.frombuffer(b"".join(haystack), dtype=np.uint8).reshape(-1, 32),
             generated_image_hashes(min(2000, max(0, n // 500)), rng)]
    centres = rng.integers(0, 256, size=(max(1, n // 100), 32), dtype=np.uint8)
    parts += [centres, near(np.repeat(centres, 9, axis=0), rng.integers(0, 41, size=9 * len(centres)), rng)]
    have = sum(len(p) for p in parts)
    parts.append(rng.integers(0, 256, size=(max(0, n - have), 32), dtype=np.uint8))
    return np.concatenate(parts)[:n]


def near(codes: np.ndarray, flips: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copies of `codes` with flips[i] distinct random bits flipped in row i (in blocks: bounded memory)."""
    out = codes.copy()
    step = 1 << 17  # rows per block: ~270 MB of temporaries
    for start in range(0, len(codes), step):
        block = out[start:start + step]
        bits = np.unpackbits(block, axis=1)
        order = np.argsort(rng.random(bits.shape), axis=1)  # a random permutation of the 256 bits per row
        chosen = order < flips[start:start + len(block), None]
        bits ^= chosen.astype(np.uint8)
        out[start:start + len(block)] = np.packbits(bits, axis=1)
    return out


def peak_mb() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024


SERVE = """
import re, sys, time, numpy as np
sys.path.insert(0, {src!r})
from hashwarden.index.pdq_index import PDQIndex
start = time.perf_counter()
index = PDQIndex.load({path!r}, mmap=True)
loaded = time.perf_counter() - start
queries = np.load({queries!r})
start = time.perf_counter()
index.search_many(queries, 31)
searched = time.perf_counter() - start
rss = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
print(loaded, len(queries) / searched, rss)
"""


def serve_in_fresh_process(path: str, queries: np.ndarray, folder: str) -> tuple[float, float, float]:
    """(load s, q/s, peak RSS MB) of a process that only loads the saved index at `path` and answers `queries`."""
    query_file = os.path.join(folder, "queries.npy")
    np.save(query_file, queries)
    subprocess.run(["sync"], check=False)
    code = SERVE.format(src=str(ROOT / "src"), path=path, queries=query_file)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def timed(function, *args):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=10_000, help="per kind, all checked against brute force")
    parser.add_argument("--flat-queries", type=int, default=500, help="per kind, timed on faiss flat")
    parser.add_argument("--scan", type=int, default=1_000_000, help="codes matched at once by the join")
    parser.add_argument("--no-mih", action="store_true", help="skip faiss IndexBinaryMultiHash")
    parser.add_argument("--no-check", action="store_true", help="skip the brute-force recall check (100M)")
    args = parser.parse_args()
    rng = np.random.default_rng(20_261_126)
    codes = dataset(args.n, rng)
    misses = rng.integers(0, 256, size=(args.queries, 32), dtype=np.uint8)
    hits = near(codes[rng.integers(0, len(codes), size=args.queries)], rng.integers(0, 32, size=args.queries), rng)
    print(f"{len(codes):,} codes; {args.queries:,} miss and {args.queries:,} hit queries; radius 31; one core")

    index, build_s = timed(PDQIndex.build, codes)
    print(f"hashwarden PDQIndex build: {build_s:.1f} s ({index.nbytes / 2**20:,.0f} MB of codes and tables)")
    ours, answers = {}, {}
    for kind, queries in (("miss", misses), ("hit", hits)):
        answers[kind], seconds = timed(index.search_many, queries, 31)
        ours[kind] = len(queries) / seconds
        print(f"hashwarden {kind}: {ours[kind]:,.0f} queries/s ({len(answers[kind].ids):,} hits)")

    scan = rng.integers(0, 256, size=(args.scan, 32), dtype=np.uint8)
    planted = args.scan // 100
    scan[:planted] = near(codes[rng.integers(0, len(codes), size=planted)], rng.integers(0, 32, size=planted), rng)
    one_by_one, probe_s = timed(index.search_many, scan, 31)
    joined, join_s = timed(index.join, scan, 31)
    assert np.array_equal(one_by_one.lims, joined.lims) and np.array_equal(one_by_one.ids, joined.ids)
    print(f"hashwarden scan of {args.scan:,} codes ({planted:,} near known ones): query by query {probe_s:.1f} s, "
          f"join {join_s:.1f} s -> ratio join / query-by-query: {probe_s / join_s:.2f}x (same answers)")
    del scan, one_by_one, joined

    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as folder:
        path = os.path.join(folder, "bench.pdqidx")
        index.save(path)
        del index  # the fresh process maps the file; this one keeps only the codes (for faiss)
        load_s, served, rss = serve_in_fresh_process(path, misses, folder)
    print(f"hashwarden load (mapped) {load_s * 1000:.0f} ms; fresh process answering the miss queries: "
          f"{served:,.0f} q/s at peak RSS {rss:,.0f} MB (this process, with the data: {peak_mb():,.0f} MB)")

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
        _, seconds = timed(flat.range_search, queries[:args.flat_queries], 32)  # faiss: strictly below the radius
        theirs[kind] = args.flat_queries / seconds
        print(f"faiss IndexBinaryFlat {kind}: {theirs[kind]:,.0f} queries/s")
    if not args.no_check:
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        for kind, queries in (("miss", misses), ("hit", hits)):
            lims, distances, labels = flat.range_search(queries, 32)
            for q in range(len(queries)):
                expected = sorted(zip(labels[lims[q]:lims[q + 1]].tolist(), distances[lims[q]:lims[q + 1]].tolist()))
                ids, dist = answers[kind][q]
                assert list(zip(ids.tolist(), dist.tolist())) == expected, f"recall differs on {kind} query {q}"
            print(f"recall on {len(queries):,} {kind} queries against brute force: 100 % (answers identical)")
        faiss.omp_set_num_threads(1)
    del flat
    if not args.no_mih:
        mih = faiss.IndexBinaryMultiHash(256, 16, 16)
        _, seconds = timed(mih.add, codes)
        print(f"faiss IndexBinaryMultiHash build: {seconds:.1f} s")
        for kind, queries in (("miss", misses), ("hit", hits)):
            _, seconds = timed(mih.range_search, queries[:2000], 32)
            rate = min(2000, len(queries)) / seconds
            print(f"faiss IndexBinaryMultiHash {kind}: {rate:,.0f} queries/s -> hashwarden {ours[kind] / rate:.1f}x")
    for kind in ("miss", "hit"):
        print(f"ratio hashwarden / faiss flat ({kind}): {ours[kind] / theirs[kind]:,.0f}x")


if __name__ == "__main__":
    main()
