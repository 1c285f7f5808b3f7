"""PDQ throughput: hashwarden's per-file hashing against python-threatexchange's PdqSignal, on real photos.

Measured, single-threaded, in one process, on the same >= 30 photos (2-12 MP JPEG/PNG from Debian wallpaper
packages, see bench/corpus.py), in interleaved rounds (the methods take turns photo by photo), as the median of
per-round rates:

  hashwarden                hash_stream(file, HashOptions()): one read, MD5 + SHA-1 + SHA-256 + sniff + decode +
                            PDQ. That is hashwarden's real per-file work, so it does more than the baseline.
  python-threatexchange     PdqSignal.hash_from_file(path): the baseline (read, Pillow decode, pdqhash).
  Pillow + pdqhash          Image.open + load + convert('RGB') + pdqhash.compute: the bare library cost.
  decode only               Image.open + load: the floor no PDQ implementation on Pillow can beat.

Also checked: that hashwarden's PDQ equals threatexchange's for every photo (bit-identical expected; differences
are listed with their Hamming distance). The last line is `ratio hashwarden / python-threatexchange: X.XXx`.
"""

from __future__ import annotations

import os

# Single thread for every numeric library, set before numpy (and so pdqhash, Pillow) is imported: the benchmark
# compares per-core cost, and a BLAS thread pool would otherwise take both cores for some of the methods.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pdqhash  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import describe, photo_corpus  # noqa: E402

from hashwarden.signals import HashOptions, hash_stream  # noqa: E402

try:
    from threatexchange.signal_type.pdq import pdq_hasher  # noqa: E402
    from threatexchange.signal_type.pdq.signal import PdqSignal  # noqa: E402
except ImportError:  # pragma: no cover - depends on the [bench] extra
    sys.exit("python-threatexchange is missing: pip install -e '.[bench]' (or: make bench)")

BASELINE = "python-threatexchange"


def run_hashwarden(path: Path) -> object:
    """hashwarden's per-file work: digests + PDQ from one read of the file."""
    with open(path, "rb") as f:
        return hash_stream(f, HashOptions())


def run_threatexchange(path: Path) -> object:
    """The baseline exactly as its users call it."""
    return PdqSignal.hash_from_file(path)


def run_pillow_pdqhash(path: Path) -> object:
    """The two libraries with nothing around them: what any Pillow + pdqhash tool must at least spend."""
    with Image.open(path) as image:
        image.load()
        rgb = np.asarray(image.convert("RGB"))
    return pdqhash.compute(rgb)


def run_decode_only(path: Path) -> object:
    """Decoding alone: the floor under every method above."""
    with Image.open(path) as image:
        image.load()
        return image.size


METHODS: dict[str, Callable[[Path], object]] = {
    "hashwarden (md5+sha1+sha256+pdq)": run_hashwarden,
    BASELINE: run_threatexchange,
    "Pillow + pdqhash": run_pillow_pdqhash,
    "decode only (Pillow open+load)": run_decode_only,
}


@dataclass
class Rates:
    """Per-round rates (images per wall-clock second and per CPU second) of one method."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def time_call(fn: Callable[[Path], object], path: Path) -> tuple[float, float]:
    """Run `fn` on one photo; return (wall seconds, CPU seconds of this process).

    CPU time is reported beside wall time because this machine may be shared: CPU seconds are what the method
    costs, whatever else runs; wall seconds are what a user waits.
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    fn(path)
    return time.perf_counter() - wall0, time.process_time() - cpu0


def benchmark(
    photos: list[Path], rounds: int, methods: dict[str, Callable[[Path], object]] = METHODS
) -> dict[str, Rates]:
    """Interleaved rounds: in each round every method hashes every photo once, and the methods take turns photo by
    photo (the order rotating with photo and round), so load from elsewhere on a shared machine or thermal drift
    hits all methods alike. A method's rate for the round is photos / its summed time."""
    names = list(methods)
    rates = {name: Rates() for name in names}
    for name in names:  # untimed warm-up: imports, page cache, allocator
        methods[name](photos[0])
    for path in photos:
        path.read_bytes()
    for r in range(rounds):
        wall = dict.fromkeys(names, 0.0)
        cpu = dict.fromkeys(names, 0.0)
        for i, path in enumerate(photos):
            k = (r + i) % len(names)
            for name in names[k:] + names[:k]:
                w, c = time_call(methods[name], path)
                wall[name] += w
                cpu[name] += c
        for name in names:
            rates[name].wall.append(len(photos) / wall[name])
            rates[name].cpu.append(len(photos) / cpu[name] if cpu[name] > 0 else float("nan"))
        summary = ", ".join(f"{n.split(' ')[0]} {rates[n].wall[-1]:.2f}" for n in names)
        print(f"  round {r + 1}/{rounds}: images/s {summary}", flush=True)
    return rates


@dataclass
class Agreement:
    """How hashwarden's PDQ compares with threatexchange's, photo by photo."""

    same: int = 0
    differing: list[tuple[str, int, str, str]] = field(default_factory=list)
    below_tx_quality: list[tuple[str, int]] = field(default_factory=list)


def agreement(photos: list[Path]) -> Agreement:
    """Compare hashes. threatexchange's hash_from_file returns "" below its quality threshold, so the comparison
    uses its pdq_from_file (the same computation without the threshold) and lists those photos separately."""
    result = Agreement()
    for path in photos:
        ours = run_hashwarden(path)
        theirs, quality = pdq_hasher.pdq_from_file(path)
        if PdqSignal.hash_from_file(path) == "":
            result.below_tx_quality.append((path.name, int(quality)))
        if ours.pdq == theirs:
            result.same += 1
        else:
            dist = (int(ours.pdq, 16) ^ int(theirs, 16)).bit_count() if ours.pdq else 256
            with Image.open(path) as image:
                mode = image.mode
            result.differing.append((path.name, dist, mode, ours.error or ""))
    return result


def print_report(photos: list[Path], rates: dict[str, Rates], agree: Agreement, rounds: int) -> None:
    """The table, the agreement and the final ratio line."""
    base_wall = statistics.median(rates[BASELINE].wall)
    base_cpu = statistics.median(rates[BASELINE].cpu)
    print()
    print(f"median of {rounds} rounds, {len(photos)} photos per round, single thread")
    header = f"{'method':<36} {'images/s':>9} {'ratio':>7}   {'img/CPU-s':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, r in rates.items():
        wall, cpu = statistics.median(r.wall), statistics.median(r.cpu)
        print(f"{name:<36} {wall:>9.2f} {wall / base_wall:>6.2f}x   {cpu:>9.2f} {cpu / base_cpu:>6.2f}x")
    print("(ratio = method / python-threatexchange; hashwarden also computes MD5, SHA-1 and SHA-256 of every file,")
    print(" which the others do not: its rate is for its full per-file work)")
    print()
    print(f"PDQ agreement hashwarden == python-threatexchange: {agree.same}/{len(photos)} photos identical")
    for name, dist, mode, err in agree.differing:
        print(f"  differs: {name} (mode {mode}) distance {dist}{' ' + err if err else ''}")
    if agree.below_tx_quality:
        listed = ", ".join(f"{n} (q={q})" for n, q in agree.below_tx_quality)
        print(
            f"  note: threatexchange's hash_from_file returns '' below quality {PdqSignal.QUALITY_THRESHOLD} for "
            f"{len(agree.below_tx_quality)} photos ({listed}); compared on its unthresholded hash"
        )
    print()
    ratio = statistics.median(rates["hashwarden (md5+sha1+sha256+pdq)"].wall) / base_wall
    print(f"ratio hashwarden / python-threatexchange: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description="PDQ images/s: hashwarden vs python-threatexchange.")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds (default 3)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photos (default: all)")
    args = parser.parse_args()

    photos = photo_corpus(min_count=30)
    if args.limit > 0:
        photos = photos[: args.limit]
    print(__doc__.splitlines()[0])
    print(f"corpus: {describe(photos)}")
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (this benchmark uses one), load average "
        f"{load[0]:.2f}; python {platform.python_version()}"
    )
    rates = benchmark(photos, max(1, args.rounds))
    agree = agreement(photos)
    print_report(photos, rates, agree, max(1, args.rounds))


if __name__ == "__main__":
    main()
