"""hashwarden's own PDQ engine: images/s against decoding alone, python-threatexchange and Pillow + pdqhash.

Measured on the same >= 30 real photos of 2-12 MP (bench/corpus.py), one process, one thread, the methods taking
turns photo by photo in each of >= 3 rounds; medians of the per-round rates:

  hashwarden engine        read the file, decode_pixels (Pillow, pixels lent without a copy), NativePdqEngine
  hashwarden hash_stream   the same plus MD5, SHA-1 and SHA-256 of the bytes: the scan's real per-file work
  python-threatexchange    PdqSignal.hash_from_file
  Pillow + pdqhash         open, load, convert('RGB'), pdqhash.compute
  decode only              Pillow open + load: the floor no exact hasher can pass

Targets (issue "Our own PDQ engine"): engine >= 0.6x decode-only, >= 2x python-threatexchange and Pillow + pdqhash,
identical hashes; `--workers 2` processes >= 1.8x one worker; a 12,000 x 12,000 image hashed in < 1.5 GB RSS.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import CACHE_DIR, describe, photo_corpus  # noqa: E402
from pdq_baseline import (  # noqa: E402
    BASELINE,
    benchmark,
    run_decode_only,
    run_hashwarden,
    run_pillow_pdqhash,
    run_threatexchange,
)

from hashwarden.signals.image import decode_pixels  # noqa: E402
from hashwarden.signals.pdq import NativePdqEngine, bits_to_hex  # noqa: E402

ENGINE = NativePdqEngine()
ENGINE_NAME = "hashwarden engine"
DECODE_NAME = "decode only (Pillow open+load)"
PILLOW_NAME = "Pillow + pdqhash"
BIG_SIDE = 12_000


def run_engine(path: Path) -> object:
    """What hashing an image costs with the engine: read, decode, normalise, PDQ."""
    return ENGINE.hash_pixels(decode_pixels(path.read_bytes()))


METHODS = {
    ENGINE_NAME: run_engine,
    "hashwarden hash_stream (+digests)": run_hashwarden,
    BASELINE: run_threatexchange,
    PILLOW_NAME: run_pillow_pdqhash,
    DECODE_NAME: run_decode_only,
}


def identical(photos: list[Path]) -> tuple[int, list[str]]:
    """Photos whose engine hash and quality equal Pillow + pdqhash's (the reference core on the same pixels)."""
    same, differing = 0, []
    for path in photos:
        ours = run_engine(path)
        vector, quality = run_pillow_pdqhash(path)
        if (ours.hash, ours.quality) == (bits_to_hex(vector), int(quality)):
            same += 1
        else:
            differing.append(path.name)
    return same, differing


def _engine_task(path: str) -> str:
    return run_engine(Path(path)).hash


def pool_rate(photos: list[Path], workers: int, passes: int) -> float:
    """Images/s of `workers` spawned processes hashing the corpus `passes` times (pool start-up not timed)."""
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_engine_task, [str(p) for p in photos[: workers * 2]])  # warm-up: imports in every worker
        tasks = [str(p) for p in photos] * passes
        start = time.perf_counter()
        pool.map(_engine_task, tasks, chunksize=1)
        return len(tasks) / (time.perf_counter() - start)


def worker_scaling(photos: list[Path], workers: int, rounds: int) -> tuple[float, float]:
    """Median images/s of one worker and of `workers`, measured alternately."""
    one, many = [], []
    for _ in range(rounds):
        one.append(pool_rate(photos, 1, 2))
        many.append(pool_rate(photos, workers, 2))
    return statistics.median(one), statistics.median(many)


_MEMORY_PROBE = """
import sys, numpy as np
from hashwarden.signals.image import decode_pixels
from hashwarden.signals.pdq import NativePdqEngine
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
data = open(sys.argv[1], "rb").read()
before = hwm()
pixels = decode_pixels(data)
result = NativePdqEngine().hash_pixels(pixels, dihedral=True)
print(before, hwm(), result.quality)
"""


def big_image() -> Path:
    """A benign 12,000 x 12,000 JPEG (smooth synthetic pattern), made once and cached."""
    path = CACHE_DIR / f"synthetic-{BIG_SIDE}.jpg"
    if not path.exists():
        import numpy as np
        from PIL import Image

        axis = np.linspace(0, 12 * np.pi, BIG_SIDE, dtype=np.float32)
        grey = (127 + 60 * np.sin(axis)[None, :] * np.cos(axis * 0.7)[:, None]).astype(np.uint8)
        rgb = np.stack([grey, np.roll(grey, 500, axis=0), np.roll(grey, 900, axis=1)], axis=2)
        Image.fromarray(rgb).save(path, quality=90)
    return path


def memory_peak() -> tuple[int, int, int]:
    """(peak RSS before decoding, peak RSS after hashing, quality) of hashing the big image in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(big_image())], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), int(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos")
    parser.add_argument("--workers", type=int, default=2, help="processes for the scaling figure (default 2)")
    args = parser.parse_args()
    photos = photo_corpus(min_count=30)
    photos = photos[: args.limit] if args.limit > 0 else photos
    rounds = max(3, args.rounds)
    print(__doc__.splitlines()[0])
    print(f"corpus: {describe(photos)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"python {platform.python_version()}")
    rates = benchmark(photos, rounds, METHODS)
    medians = {name: statistics.median(r.wall) for name, r in rates.items()}
    print(f"\nmedian of {rounds} rounds, {len(photos)} photos per round, one thread")
    print(f"{'method':<36} {'images/s':>9} {'engine / method':>16}")
    for name, rate in medians.items():
        print(f"{name:<36} {rate:>9.2f} {medians[ENGINE_NAME] / rate:>15.2f}x")
    same, differing = identical(photos)
    print(f"\nidentical to the reference core (hash and quality): {same}/{len(photos)}"
          + (f"; differing: {', '.join(differing)}" if differing else ""))
    one, many = worker_scaling(photos, args.workers, rounds)
    before, after, quality = memory_peak()
    print(f"workers: 1 process {one:.2f} images/s, {args.workers} processes {many:.2f} images/s")
    print(f"memory: {BIG_SIDE}x{BIG_SIDE} image (quality {quality}): peak RSS {after / 2**30:.2f} GB "
          f"({before / 2**20:.0f} MB before decoding)")
    print()
    print(f"ratio engine / decode only: {medians[ENGINE_NAME] / medians[DECODE_NAME]:.2f}x (target >= 0.6)")
    print(f"ratio engine / python-threatexchange: {medians[ENGINE_NAME] / medians[BASELINE]:.2f}x (target >= 2)")
    print(f"ratio engine / Pillow + pdqhash: {medians[ENGINE_NAME] / medians[PILLOW_NAME]:.2f}x (target >= 2)")
    print(f"ratio {args.workers} workers / 1 worker: {many / one:.2f}x (target >= 1.8)")


if __name__ == "__main__":
    main()
