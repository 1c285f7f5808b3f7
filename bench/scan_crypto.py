"""Digest throughput of a folder scan: `hashwarden scan --no-pdq` against hashdeep, MD5 + SHA-1 + SHA-256.

Measured: MB/s (10^6 bytes of file content per wall-clock second) over a >= 2 GB "mixed folder" of incompressible
files, as the median of >= 3 interleaved rounds whose order rotates, both tools using every core (their defaults):

  hashdeep                      hashdeep -r -c md5,sha1,sha256 DIR > /dev/null   (the baseline, multi-threaded C++)
  hashwarden                    hashwarden scan DIR --case bench --out OUT --no-pdq --quiet --db DB, with a fresh
                                empty OUT and DB each round: the whole command as an examiner runs it (enumeration,
                                hashing, matching against the empty DB, case DB, report, custody record, and by
                                default a second read of every file for the custody 'after' digest)
  hashwarden --no-verify-after  the same without that second read: the like-for-like single pass

The folder is read from the page cache: one untimed warm-up run of each tool comes first, so both read cached data
equally (the folder is sized to fit in RAM). Correctness: hashdeep's listing (from its warm-up run) is compared file
by file with hashwarden's OUT/report.json (from its last timed round). The last line is
`ratio hashwarden / hashdeep: X.XXx`.

The folder (bench/.cache/mixed/, git-ignored) is built once and reused: ~10,000 small files (1-100 KB) in nested
directories, 60 medium (1-10 MB), 4 large (160-480 MB), all random bytes from a seeded PCG64 generator so every
machine builds the same content, plus copies of the photo corpus (bench/corpus.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import CACHE_DIR, photo_corpus  # noqa: E402

MIXED_DIR = CACHE_DIR / "mixed"
ROOT = MIXED_DIR / "root"
SPEC_FILE = MIXED_DIR / "spec.json"

# The folder's recipe; any change here (bump VERSION) rebuilds it.
VERSION = 1
SEED = 20_260_042
SMALL_COUNT = 10_000
SMALL_FANOUT = (20, 10)  # small/dXX/dYY/: 200 leaf directories of 50 files
SMALL_SIZES = (1_000, 100_000)
MEDIUM_COUNT = 60
MEDIUM_SIZES = (1_000_000, 10_000_000)
LARGE_SIZES = (160_000_000, 260_000_000, 360_000_000, 480_000_000)
MIN_TOTAL_BYTES = 2_000_000_000
WRITE_CHUNK = 8 << 20

HASHDEEP = "hashdeep"
HW = "hashwarden"
HW_SINGLE = "hashwarden --no-verify-after"


# --------------------------------------------------------------------------------------------------- the folder


def mixed_folder() -> Path:
    """The mixed folder, built on first use; later calls only check its recipe record, so they are instant."""
    photos = photo_corpus(min_count=30)
    spec = {
        "version": VERSION,
        "seed": SEED,
        "small": [SMALL_COUNT, *SMALL_SIZES],
        "medium": [MEDIUM_COUNT, *MEDIUM_SIZES],
        "large": list(LARGE_SIZES),
        "photos": [p.name for p in photos],
    }
    try:
        recorded = json.loads(SPEC_FILE.read_text())
    except (OSError, ValueError):
        recorded = None
    if recorded and recorded.get("recipe") == spec and ROOT.is_dir():
        return ROOT
    print("building the mixed folder (once; about 2.2 GB of random bytes) ...", flush=True)
    started = time.perf_counter()
    files, total = _build(spec, photos)
    if total < MIN_TOTAL_BYTES:
        raise RuntimeError(f"mixed folder holds {total:,} bytes, under the {MIN_TOTAL_BYTES:,} the benchmark needs")
    SPEC_FILE.write_text(json.dumps({"recipe": spec, "files": files, "bytes": total}, indent=1))
    print(f"  built {files:,} files, {total / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s", flush=True)
    return ROOT


def _build(spec: dict, photos: list[Path]) -> tuple[int, int]:
    """Write the folder into a scratch directory and rename it into place, so a killed build is never reused."""
    MIXED_DIR.mkdir(parents=True, exist_ok=True)
    SPEC_FILE.unlink(missing_ok=True)
    partial = MIXED_DIR / "root.partial"
    for old in (partial, ROOT):
        if old.exists():
            shutil.rmtree(old)
    sizes_rng = np.random.Generator(np.random.PCG64(SEED))
    small_sizes = sizes_rng.integers(SMALL_SIZES[0], SMALL_SIZES[1] + 1, SMALL_COUNT)
    medium_sizes = sizes_rng.integers(MEDIUM_SIZES[0], MEDIUM_SIZES[1] + 1, MEDIUM_COUNT)
    files = total = 0
    per_leaf = SMALL_COUNT // (SMALL_FANOUT[0] * SMALL_FANOUT[1])
    for i, size in enumerate(small_sizes):
        leaf = i // per_leaf
        path = (
            partial / "small" / f"d{leaf // SMALL_FANOUT[1]:02d}" / f"d{leaf % SMALL_FANOUT[1]:02d}" / f"f{i:05d}.bin"
        )
        total += _write_random(path, int(size), (SEED, 1, i))
        files += 1
    for i, size in enumerate(medium_sizes):
        path = partial / "medium" / f"m{i // 10:02d}" / f"f{i:03d}.bin"
        total += _write_random(path, int(size), (SEED, 2, i))
        files += 1
    for i, size in enumerate(LARGE_SIZES):
        total += _write_random(partial / "large" / f"large_{i}.bin", size, (SEED, 3, i))
        files += 1
    (partial / "photos").mkdir(parents=True)
    for photo in photos:
        shutil.copyfile(photo, partial / "photos" / photo.name)
        total += photo.stat().st_size
        files += 1
    os.replace(partial, ROOT)
    return files, total


def _write_random(path: Path, size: int, key: tuple[int, int, int]) -> int:
    """Write `size` incompressible bytes from a generator keyed by `key` (same bytes on every machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(list(key)))
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, WRITE_CHUNK)
            f.write(rng.bytes(n))
            left -= n
    return size


def tree_bytes(root: Path) -> tuple[int, int]:
    """(file count, total bytes) of the folder as it is now: the figure the rates are computed from."""
    files = total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            files += 1
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return files, total


# --------------------------------------------------------------------------------------------------- the runs


def hashwarden_exe() -> Path:
    """The venv's `hashwarden`: beside the running interpreter (make bench runs .venv/bin/python), else the repo's."""
    here = Path(sys.executable).parent / "hashwarden"
    if here.exists():
        return here
    return Path(__file__).resolve().parent.parent / ".venv" / "bin" / "hashwarden"


def scan_available(exe: Path) -> bool:
    """True when `hashwarden scan` exists (it was written alongside this benchmark)."""
    if not exe.exists():
        return False
    proc = subprocess.run([str(exe), "scan", "--help"], capture_output=True, text=True, check=False)
    return proc.returncode == 0 and "--no-pdq" in proc.stdout


@dataclass
class Timing:
    """Per-round wall seconds and CPU seconds (user + sys of the child processes) of one command."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def timed(
    cmd: list[str], *, stdout: object = subprocess.DEVNULL, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Run `cmd` to completion; return (wall seconds, children's CPU seconds). Fails loudly on a non-zero exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_hashdeep(root: Path, stdout: object = subprocess.DEVNULL) -> tuple[float, float]:
    """hashdeep with its defaults (one thread per core), the three digests, recursive."""
    return timed([HASHDEEP, "-r", "-c", "md5,sha1,sha256", str(root)], stdout=stdout)


def run_hashwarden(exe: Path, root: Path, work: Path, *, verify_after: bool = True) -> tuple[float, float]:
    """One digests-only scan into a fresh, empty case directory and hash DB under `work` (which must be new)."""
    db = work / "hw.db"
    cmd = [
        str(exe),
        "scan",
        str(root),
        "--case",
        "bench",
        "--out",
        str(work / "out"),
        "--no-pdq",
        "--allow-empty",
        "--quiet",
        "--db",
        str(db),
    ]
    if not verify_after:
        cmd.append("--no-verify-after")
    env = dict(os.environ, HASHWARDEN_DB=str(db))
    return timed(cmd, env=env)


def benchmark(exe: Path, root: Path, rounds: int, scratch: Path) -> tuple[dict[str, Timing], Path]:
    """Interleaved timed rounds after one untimed warm-up of each tool; returns timings and the last report.json."""
    timings = {HASHDEEP: Timing(), HW: Timing(), HW_SINGLE: Timing()}
    last_report = scratch / "none"
    for r in range(rounds):
        order = list(timings)
        order = order[r % len(order) :] + order[: r % len(order)]
        for name in order:
            if name == HASHDEEP:
                wall, cpu = run_hashdeep(root)
            else:
                work = Path(tempfile.mkdtemp(prefix=f"round{r}-", dir=scratch))
                wall, cpu = run_hashwarden(exe, root, work, verify_after=name == HW)
                if name == HW:
                    last_report = work / "out" / "report.json"
                else:
                    shutil.rmtree(work)
            timings[name].wall.append(wall)
            timings[name].cpu.append(cpu)
        summary = ", ".join(f"{n} {timings[n].wall[-1]:.1f} s" for n in timings)
        print(f"  round {r + 1}/{rounds}: {summary}", flush=True)
    return timings, last_report


# --------------------------------------------------------------------------------------------------- correctness


def parse_hashdeep(listing: Path, root: Path) -> dict[str, tuple[str, str, str]]:
    """hashdeep's CSV (size,md5,sha1,sha256,filename) as {path relative to root: (md5, sha1, sha256)}.

    The filename is the last field and may itself hold commas, hence the bounded split.
    """
    out: dict[str, tuple[str, str, str]] = {}
    for line in listing.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if not line or line.startswith(("%%%%", "##")):
            continue
        _size, md5, sha1, sha256, name = line.split(",", 4)
        out[os.path.relpath(name, root)] = (md5, sha1, sha256)
    return out


def parse_report(report: Path) -> dict[str, tuple[str, str, str]]:
    """hashwarden's report.json items as {path relative to the scanned root: (md5, sha1, sha256)}."""
    items = json.loads(report.read_text(encoding="utf-8"))["items"]
    return {item["path"]: (item.get("md5"), item.get("sha1"), item.get("sha256")) for item in items}


def compare(ours: dict[str, tuple[str, str, str]], theirs: dict[str, tuple[str, str, str]]) -> list[str]:
    """Print agreement counts; return the problem lines (empty when every file agrees on all three digests)."""
    common = ours.keys() & theirs.keys()
    same = sum(1 for k in common if ours[k] == theirs[k])
    print(
        f"digest agreement hashwarden == hashdeep (md5, sha1 and sha256): {same:,}/{len(theirs):,} files "
        f"(hashwarden reported {len(ours):,})"
    )
    problems = [f"  digests differ: {k}" for k in sorted(common) if ours[k] != theirs[k]]
    problems += [f"  only hashdeep listed: {k}" for k in sorted(theirs.keys() - ours.keys())]
    problems += [f"  only hashwarden listed: {k}" for k in sorted(ours.keys() - theirs.keys())]
    return problems


# --------------------------------------------------------------------------------------------------- main


def fixed_costs(exe: Path | None, scratch: Path) -> str:
    """Seconds each command takes on an empty folder: start-up and bookkeeping, which no folder size amortises away."""
    empty = Path(tempfile.mkdtemp(prefix="empty-", dir=scratch))
    parts = [f"hashdeep {run_hashdeep(empty)[0]:.2f} s"]
    if exe is not None:
        work = Path(tempfile.mkdtemp(prefix="emptyscan-", dir=scratch))
        parts.append(f"hashwarden scan {run_hashwarden(exe, empty, work)[0]:.2f} s")
    return "start-up cost (empty folder, once): " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description="Folder digest MB/s: hashwarden scan --no-pdq vs hashdeep.")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds (default 3)")
    args = parser.parse_args()
    rounds = max(1, args.rounds)

    if shutil.which(HASHDEEP) is None:
        sys.exit("hashdeep is missing: apt-get install hashdeep (make bench does it)")
    root = mixed_folder().resolve()
    files, total = tree_bytes(root)
    exe = hashwarden_exe()
    have_scan = scan_available(exe)

    print(__doc__.splitlines()[0])
    version = subprocess.run([HASHDEEP, "-V"], capture_output=True, text=True, check=False).stdout.strip()
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, both tools use all of them (hashdeep {version}: "
        f"one thread per core by default; hashwarden: one worker process per core); load average {load[0]:.2f}"
    )
    print(f"folder: {root} - {files:,} files, {total / 1e9:.2f} GB")
    print("page cache: one untimed warm-up run of each tool first, so every timed run reads cached data")

    with tempfile.TemporaryDirectory(prefix="hw-bench-") as tmp:
        scratch = Path(tmp)
        listing = scratch / "hashdeep.txt"
        with open(listing, "wb") as f:
            run_hashdeep(root, stdout=f)
        if not have_scan:
            print(f"\n`{exe} scan` is not available yet: only hashdeep was run.")
            print(f"hashdeep (warm-up, single run): {total / 1e6 / run_hashdeep(root)[0]:.0f} MB/s")
            sys.exit(2)
        run_hashwarden(exe, root, Path(tempfile.mkdtemp(prefix="warmup-", dir=scratch)))
        print(fixed_costs(exe, scratch))
        timings, report = benchmark(exe, root, rounds, scratch)

        print()
        print(f"median of {rounds} rounds; MB = 10^6 bytes of file content, {total / 1e9:.2f} GB per run")
        header = f"{'command':<30} {'MB/s':>8} {'ratio':>7}   {'CPU s':>7}   {'wall s':>7}"
        print(header)
        print("-" * len(header))
        base = statistics.median(timings[HASHDEEP].wall)
        for name, t in timings.items():
            wall = statistics.median(t.wall)
            print(
                f"{name:<30} {total / 1e6 / wall:>8.0f} {base / wall:>6.2f}x   {statistics.median(t.cpu):>7.1f}"
                f"   {wall:>7.2f}"
            )
        print("(ratio = hashdeep's time / the command's time; CPU s = user + sys of all the command's processes)")
        print()
        problems = compare(parse_report(report), parse_hashdeep(listing, root))
        for line in problems[:50]:
            print(line)
        if len(problems) > 50:
            print(f"  ... and {len(problems) - 50} more")
        print()
        single = base / statistics.median(timings[HW_SINGLE].wall)
        print(f"ratio hashwarden --no-verify-after / hashdeep: {single:.2f}x")
        print(f"ratio hashwarden / hashdeep: {base / statistics.median(timings[HW].wall):.2f}x")


if __name__ == "__main__":
    main()
