"""A full scan of real photos at the speed of decoding: `hashwarden scan --workers N` against Pillow decoding alone.

Corpus: every 2-50 MP wallpaper of Debian's artwork packages (bench/corpus.py MIXED: 131 images on Debian 12, JPEG,
PNG RGB and RGBA, WebP; the files as shipped, nothing converted), cached under bench/.cache/. Measured side by side
in one run, each figure the median of `--rounds` (3) interleaved rounds whose order rotates:

  decode     Pillow alone: `Image.open(path).load()` of every file in N processes (a pool taking the largest files
             first), started as a command like the scan, so both pay an interpreter's start-up. The floor: a scan
             cannot be faster than decoding its images.
  kept       the same, each process keeping freed memory for the next image as the scan's workers do (Pillow's
             block, glibc's heap): the floor of a decoder tuned as the scan is, so that a ratio against "decode"
             can be read apart from the kernel's page faults the scan no longer pays.
  scan       `hashwarden scan DIR --case bench --out OUT --workers N --allow-empty --no-verify-after --quiet` with a
             fresh OUT and an empty database: enumeration, digests, sniffing, decoding, PDQ with its 8 dihedral
             forms, the metadata reader, matching, the case database and the report. --no-verify-after leaves out
             the custody re-read of every file (a second pass that decoding alone does not have either). The
             empty database is made once per code tree (by that tree's `open_store`) and copied before each scan,
             as a scan meets a store in use: created and migrated long before, opened at its schema's head.

for N = 1 and 2, on the whole corpus ("all") and on each format alone (one folder per format and mode). The ratio
is decode / scan: 1.00x means the scan runs at the decoder's speed (targets: >= 0.85x in all, >= 0.8x per format).

Also, per code tree:
  start-up   `hashwarden --help`, `hashwarden hash SMALL_FILE` and `hashwarden scan` of a one-file folder (target
             <= 0.25 s), wall-clock seconds of the whole command;
  digests    `hashwarden scan --no-pdq --no-verify-after` (default workers: one per core) of a 500 MB folder of 400
             files (random bytes from a seeded generator, read from the page cache) against
             `hashdeep -r -c md5,sha1,sha256` (multi-threaded); ratio hashdeep / scan (target >= 1.0x).

`--src LABEL=PATH` (repeatable) runs the commands with PYTHONPATH=PATH, so two code trees (before and after a
change) are measured in the same rounds: `--src before=/tmp/base/src --src after=src`. Default: this tree's src.

The machine may be shared: figures are medians of interleaved rounds, and each ratio compares runs made minutes
apart under the same load. Quote them as such.

Run: python bench/scan_full.py [--rounds 3] [--src LABEL=PATH ...] [--quick] [--parts scan,startup,digests]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from corpus import CACHE_DIR, MIXED, describe, photo_corpus  # noqa: E402

WORK_DIR = CACHE_DIR / "scan_full"
DIGEST_DIR = CACHE_DIR / "digests-500mb"
DIGEST_FILES = 400
DIGEST_BYTES = 500_000_000
DIGEST_SEED = 20_261_121
STARTUP_REPEATS = 3


# ------------------------------------------------------------------------------------------------- the folders


def group_of(path: Path) -> str:
    """The format group of an image, from its header: JPEG, PNG RGB, PNG RGBA, PNG other (L, LA, P), WebP."""
    from PIL import Image

    with Image.open(path) as image:
        fmt, mode = image.format, image.mode
    if fmt == "JPEG":
        return "JPEG"
    if fmt == "WEBP":
        return "WebP"
    return f"PNG {mode}" if mode in ("RGB", "RGBA") else "PNG other"


def corpus_folders() -> tuple[Path, dict[str, Path]]:
    """The folder holding every image ("all") and one folder per format group inside it, as hard links to the
    cached corpus (rebuilt when the corpus changes)."""
    photos = photo_corpus(min_count=100, selection=MIXED)
    stamp = WORK_DIR / "corpus.json"
    names = sorted(p.name for p in photos)
    groups: dict[str, list[Path]] = defaultdict(list)
    for photo in photos:
        groups[group_of(photo)].append(photo)
    root = WORK_DIR / "all"
    try:
        fresh = json.loads(stamp.read_text()) == names
    except (OSError, ValueError):
        fresh = False
    if not fresh:
        shutil.rmtree(root, ignore_errors=True)
        for group, members in groups.items():
            folder = root / group.replace(" ", "_")
            folder.mkdir(parents=True)
            for photo in members:
                os.link(photo, folder / photo.name)
        stamp.write_text(json.dumps(names))
    return root, {group: root / group.replace(" ", "_") for group in sorted(groups)}


def digest_folder() -> Path:
    """400 files of random bytes, 500 MB in all (sizes 0.25-2.25 MB), the same on every machine."""
    import numpy as np

    stamp = DIGEST_DIR / "spec.json"
    spec = {"files": DIGEST_FILES, "bytes": DIGEST_BYTES, "seed": DIGEST_SEED}
    try:
        if json.loads(stamp.read_text()) == spec:
            return DIGEST_DIR / "root"
    except (OSError, ValueError):
        pass
    shutil.rmtree(DIGEST_DIR, ignore_errors=True)
    rng = np.random.Generator(np.random.PCG64(DIGEST_SEED))
    weights = rng.uniform(0.25, 2.25, DIGEST_FILES)
    sizes = (weights / weights.sum() * DIGEST_BYTES).astype(np.int64)
    sizes[-1] += DIGEST_BYTES - sizes.sum()
    for index, size in enumerate(sizes):
        folder = DIGEST_DIR / "root" / f"d{index % 8}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:03d}.bin").write_bytes(rng.bytes(int(size)))
    stamp.write_text(json.dumps(spec))
    return DIGEST_DIR / "root"


# ------------------------------------------------------------------------------------------------- the commands


def decode_only(folder: Path, workers: int, keep_memory: bool = False) -> None:
    """Decode every image under `folder` with Pillow in `workers` processes, largest first (the floor).

    `keep_memory`: each process keeps freed memory for the next image as the scan's workers do
    (`scan.worker._keep_pixel_memory`, written again here so that the floor does not depend on the code measured):
    one Pillow block per image, kept up to 256 MiB, and glibc's heap kept. The issue's floor is Pillow as it comes;
    this one says how much of a ratio is the scan's memory settings rather than its hashing."""
    import multiprocessing

    paths = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size)
    if workers <= 1:
        if keep_memory:
            _keep_memory()
        for path in paths:
            _decode(path)
        return
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_keep_memory if keep_memory else None) as pool:
        for _ in pool.imap_unordered(_decode, paths, chunksize=1):
            pass


def _decode(path: Path) -> None:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    block_size = Image.core.get_block_size()
    if block_size == _KEPT_BLOCK:
        Image.core.set_block_size(1 << 30)  # one block per image while it decodes, as the scan's decoding does
    with Image.open(path) as image:
        image.load()
    Image.core.set_block_size(block_size)


_KEPT_BLOCK = 256 << 20


def _keep_memory() -> None:
    import ctypes

    from PIL import Image

    Image.core.set_block_size(_KEPT_BLOCK)
    Image.core.set_blocks_max(1)
    mallopt = ctypes.CDLL(None).mallopt
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    run = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"failed ({run.returncode}): {' '.join(command)}\n{run.stderr[-2000:]}")
    return elapsed


def hashwarden(src: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command as a user runs it: the environment's `hashwarden` console script, importing the code tree `src`
    (PYTHONPATH comes before the editable install). Not `python -m hashwarden`: multiprocessing does not run a
    `__main__` module again in the workers it spawns, but it does run a console script again (`__mp_main__`), and
    what that script imports is each scan worker's start-up."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return [str(Path(sys.executable).with_name("hashwarden")), *args], env


def empty_store(src: Path, scratch: Path) -> Path:
    """An empty hash database made by the code tree `src` (its schema at that tree's head), made once per tree."""
    template = scratch / f"empty-{abs(hash(str(src))):x}.db"
    if not template.exists():
        subprocess.run([sys.executable, "-c", "import sys; from hashwarden.store import open_store; "
                        "open_store('sqlite:///' + sys.argv[1]).dispose()", str(template)],
                       env={**os.environ, "PYTHONPATH": str(src)}, check=True)
    return template


def scan_once(src: Path, folder: Path, workers: int | None, scratch: Path, *extra: str) -> float:
    out = scratch / "out"
    shutil.rmtree(out, ignore_errors=True)
    for suffix in ("-wal", "-shm"):
        (scratch / f"empty.db{suffix}").unlink(missing_ok=True)
    shutil.copyfile(empty_store(src, scratch), scratch / "empty.db")
    worker_args = ["--workers", str(workers)] if workers is not None else []
    command, env = hashwarden(src, "scan", str(folder), "--case", "bench", "--out", str(out), *worker_args,
                              "--allow-empty", "--no-verify-after", "--quiet", "--db", str(scratch / "empty.db"),
                              *extra)
    return timed(command, env)


def decode_once(folder: Path, workers: int, keep_memory: bool = False) -> float:
    return timed([sys.executable, __file__, "--decode", str(folder), "--workers", str(workers),
                  *(["--keep-memory"] if keep_memory else [])])


# ------------------------------------------------------------------------------------------------- the rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", action="append", default=[], metavar="LABEL=PATH",
                        help="a code tree to measure (repeatable); default: this tree's src")
    parser.add_argument("--workers", default="1,2", help="the N to measure, comma-separated")
    parser.add_argument("--quick", action="store_true", help="the whole corpus only (no per-format folders)")
    parser.add_argument("--parts", default="scan,startup,digests",
                        help="what to measure, comma-separated: scan (against decoding), startup, digests")
    parser.add_argument("--json", type=Path, help="also write the medians here")
    parser.add_argument("--profile", action="store_true",
                        help="instead: where one core's time goes per format (the hashwarden on PYTHONPATH)")
    parser.add_argument("--decode", type=Path, help=argparse.SUPPRESS)  # internal: the decode-alone command
    parser.add_argument("--keep-memory", action="store_true", help=argparse.SUPPRESS)  # internal: its variant
    args = parser.parse_args()
    if args.decode:
        decode_only(args.decode, int(args.workers), args.keep_memory)
        return
    if args.profile:
        profile(corpus_folders()[1])
        return

    sources = dict(item.split("=", 1) for item in args.src) or {"this tree": str(BENCH_DIR.parent / "src")}
    sources = {label: Path(path).resolve() for label, path in sources.items()}
    labels = list(sources)
    counts = [int(n) for n in args.workers.split(",")]
    parts = set(args.parts.split(","))
    root, groups = corpus_folders()
    folders = {} if "scan" not in parts else {"all": root} if args.quick else {"all": root, **groups}
    photos = photo_corpus(min_count=100, selection=MIXED)
    print(f"corpus: {describe(photos, MIXED)}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start; {args.rounds} rounds")
    for group, folder in groups.items():
        files = list(folder.iterdir())
        print(f"  {group:10s} {len(files):4d} files, {sum(f.stat().st_size for f in files) / 1e6:7.1f} MB")
    digests = digest_folder() if "digests" in parts else None
    small = WORK_DIR / "startup"
    small.mkdir(parents=True, exist_ok=True)
    (small / "note.txt").write_text("a small file\n")

    times: dict[tuple, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="scan_full-") as scratch_name:
        scratch = Path(scratch_name)
        for label in labels:  # warm-up: compiled bytecode, page cache
            scan_once(sources[label], groups[min(groups)], 2, scratch)
        if digests:
            timed(["hashdeep", "-r", "-c", "md5,sha1,sha256", str(digests)])
        for round_index in range(args.rounds):
            started = time.perf_counter()
            for group, folder in folders.items():
                for workers in counts:
                    variants = ["decode", "decode kept", *labels]
                    shift = round_index % len(variants)
                    for variant in variants[shift:] + variants[:shift]:
                        if variant.startswith("decode"):
                            elapsed = decode_once(folder, workers, keep_memory=variant == "decode kept")
                        else:
                            elapsed = scan_once(sources[variant], folder, workers, scratch)
                        times[(group, workers, variant)].append(elapsed)
            for label in labels if "startup" in parts else []:
                src = sources[label]
                for _ in range(STARTUP_REPEATS):
                    times[("startup", "--help", label)].append(timed(*hashwarden(src, "--help")))
                    times[("startup", "hash FILE", label)].append(
                        timed(*hashwarden(src, "hash", str(small / "note.txt"))))
                    times[("startup", "scan 1 file", label)].append(scan_once(src, small, None, scratch, "--no-pdq"))
            if digests:
                variants = ["hashdeep", *labels]
                shift = round_index % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    if variant == "hashdeep":
                        elapsed = timed(["hashdeep", "-r", "-c", "md5,sha1,sha256", str(digests)])
                    else:
                        elapsed = scan_once(sources[variant], digests, None, scratch, "--no-pdq")
                    times[("digests", variant)].append(elapsed)
            print(f"round {round_index + 1}/{args.rounds}: {time.perf_counter() - started:.0f} s, load average "
                  f"{os.getloadavg()[0]:.2f}", flush=True)

    median = {key: statistics.median(values) for key, values in times.items()}
    if folders:
        print_scan_table(median, folders, counts, labels)
    if "startup" in parts:
        print()
        print("start-up (seconds, whole command, medians of "
              f"{STARTUP_REPEATS * args.rounds}; target <= 0.25 s)")
        for what in ("--help", "hash FILE", "scan 1 file"):
            print(f"  {what:12s}" + "".join(f"  {label}: {median[('startup', what, label)]:.3f}" for label in labels))
    if digests:
        print()
        hashdeep = median[("digests", "hashdeep")]
        print(f"digests only, {DIGEST_FILES} files, {DIGEST_BYTES / 1e6:.0f} MB: hashdeep {hashdeep:.2f} s")
        for label in labels:
            scan = median[("digests", label)]
            print(f"  {label}: scan --no-pdq {scan:.2f} s, ratio hashdeep / scan {hashdeep / scan:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({" | ".join(map(str, key)): value for key, value in median.items()},
                                        indent=1))


def profile(groups: dict[str, Path]) -> None:
    """CPU seconds (one core, `time.process_time`) of each stage of a worker's work on every image, per format: the
    stages `hash_stream` runs, timed one by one on the same bytes, then `hash_stream` itself (digests, sniffing,
    decoding, metadata, PDQ with 8 dihedral forms) and what goes to the writer (the row, pickled)."""
    import hashlib
    import io
    import pickle

    from PIL import Image

    from hashwarden.leads.metadata import read_image
    from hashwarden.signals import image as images
    from hashwarden.signals.hasher import HashOptions, hash_stream
    from hashwarden.signals.pdq import DEFAULT_ENGINE

    def cpu(function):  # noqa: ANN001, ANN202
        started = time.process_time()
        value = function()
        return value, time.process_time() - started

    stages = ("read", "digests", "join", "decode", "metadata", "normalise", "pdq", "pdq+dihedral", "hash_stream",
              "row pickle")
    print(f"{'format':10s} {'MP':>6s}" + "".join(f" {name:>12s}" for name in stages) + "  hash_stream/decode")
    for group, folder in groups.items():
        spent: dict[str, float] = defaultdict(float)
        megapixels = 0.0
        for path in sorted(folder.iterdir()):
            chunks, spent_read = cpu(lambda: list(iter(lambda f=open(path, "rb"): f.read(1 << 20), b"")))
            spent["read"] += spent_read
            spent["digests"] += cpu(lambda: [hashlib.new(n, b"".join(chunks)) for n in ("md5", "sha1", "sha256")])[1]
            data, spent_join = cpu(lambda: b"".join(chunks))
            spent["join"] += spent_join
            Image.MAX_IMAGE_PIXELS = None
            Image.core.set_block_size(images._SINGLE_BLOCK_BYTES)  # one block, as decode_pixels has it: lent, no copy

            def decode() -> Image.Image:
                opened = Image.open(io.BytesIO(data))
                opened.load()
                return opened

            opened, spent_decode = cpu(decode)
            spent["decode"] += spent_decode
            megapixels += opened.size[0] * opened.size[1] / 1e6
            spent["metadata"] += cpu(lambda: read_image(opened))[1]
            pixels, spent_normalise = cpu(lambda: images._to_pixels(images._normalise(opened), 1))
            spent["normalise"] += spent_normalise
            spent["pdq"] += cpu(lambda: DEFAULT_ENGINE.hash_pixels(pixels))[1]
            spent["pdq+dihedral"] += cpu(lambda: DEFAULT_ENGINE.hash_pixels(pixels, dihedral=True))[1]
            signals, spent_stream = cpu(lambda: hash_stream(io.BytesIO(data), HashOptions(dihedral=True),
                                                            inspect_image=read_image))
            spent["hash_stream"] += spent_stream
            row = {"path": str(path), "md5": signals.md5, "sha1": signals.sha1, "sha256": signals.sha256,
                   "pdq": signals.pdq, "pdq_dihedral": list(signals.pdq_dihedral or ())}
            spent["row pickle"] += cpu(lambda: pickle.dumps(row))[1]
        print(f"{group:10s} {megapixels:6.0f}" + "".join(f" {spent[name]:12.3f}" for name in stages)
              + f"  {spent['decode'] / spent['hash_stream']:.2f}x")


def print_scan_table(median: dict, folders: dict[str, Path], counts: list[int], labels: list[str]) -> None:
    print()
    print("scan vs decoding alone (seconds, medians; ratio = decode / scan, 1.00x = the decoder's speed). 'decode':")
    print("Pillow as it comes (the issue's floor); 'kept': Pillow with freed memory kept as the scan's workers keep it")
    header = f"{'folder':10s} {'N':>2s} {'decode':>8s} {'kept':>8s}" + "".join(f" {label[:14]:>14s}" for label in labels)
    header += "".join(f" {('x ' + label)[:14]:>14s} {('x kept ' + label)[:14]:>14s}" for label in labels)
    print(header)
    for group in folders:
        for workers in counts:
            decode, kept = median[(group, workers, "decode")], median[(group, workers, "decode kept")]
            row = f"{group:10s} {workers:2d} {decode:8.2f} {kept:8.2f}"
            row += "".join(f" {median[(group, workers, label)]:14.2f}" for label in labels)
            row += "".join(f" {decode / median[(group, workers, label)]:13.2f}x"
                           f" {kept / median[(group, workers, label)]:13.2f}x" for label in labels)
            print(row)


if __name__ == "__main__":
    main()
