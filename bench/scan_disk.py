"""Disk images: `hashwarden scan` of an ext4 image vs hashdeep over the same files; carving vs dd of a raw image.

Measured, side by side in one run: the median of >= 3 interleaved rounds whose order rotates, after one untimed
warm-up run of every command (so every timed run reads page-cached data; the three data sets fit in RAM):

  1. Disk scan vs hashdeep. MB/s = 10^6 bytes of the files inside the image per wall-clock second, for all three:
       hashdeep                      hashdeep -r -c md5,sha1,sha256 MIXED_DIR > /dev/null (the same files, extracted
                                     to a folder: scan_crypto.py's mixed folder, from which the image was built)
       hashwarden                    hashwarden scan EXT4_DIR --case bench --out OUT --no-pdq --quiet --db DB, EXT4_DIR
                                     holding only ext4.img, fresh empty OUT and DB each round
       hashwarden --no-verify-after  the same without the custody re-read
     hashwarden processes more bytes than hashdeep: it also hashes the image file itself (the container, all three
     digests) and, by default, reads the image once more (SHA-256) for the custody 'after' record. The rates still
     count only the bytes of the files inside, so the ratios are what an examiner sees: the same files, digested.
     Correctness: every file of the folder must appear in report.json as `ext4.img/<relative path>` with the md5,
     sha1 and sha256 hashdeep computed.
  2. Carving vs sequential read, over carve.dd (>= 2 GB of PCG64 random bytes, no file system, a few hundred benign
     media planted at known offsets: copies of the photo corpus and small synthetic PNG/GIF):
       dd                            dd if=carve.dd of=/dev/null bs=8M
       carve                         hashwarden.evidence.carve.carve(read, [(0, size)]) in this process, `read`
                                     seeking and reading the open image file: the one sequential carving pass
     GB/s = 10^9 bytes of the image per wall second. Correctness and the full command: one
     `hashwarden scan CARVE_DIR --carve --no-pdq --quiet` (wall time informational) whose report must list every
     planted item at its offset with its length (and, for exact ones, its sha256).

Images are built once into bench/.cache/disk/ (git-ignored; about 4.6 GB) and reused while their recipe holds.
The last lines are `ratio hashwarden / hashdeep (disk image): X.XXx`,
`ratio hashwarden --no-verify-after / hashdeep (disk image): X.XXx` and `ratio carving / dd: X.XXx`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import CACHE_DIR, photo_corpus  # noqa: E402
from scan_crypto import (  # noqa: E402
    HASHDEEP,
    HW,
    HW_SINGLE,
    SPEC_FILE,
    Timing,
    compare,
    hashwarden_exe,
    mixed_folder,
    parse_hashdeep,
    parse_report,
    run_hashdeep,
    run_hashwarden,
    scan_available,
    timed,
    tree_bytes,
)

DISK_DIR = CACHE_DIR / "disk"
EXT4_DIR = DISK_DIR / "ext4"  # holds only ext4.img: the scanned source
EXT4_NAME = "ext4.img"
EXT4_SPEC = DISK_DIR / "ext4.json"
CARVE_DIR = DISK_DIR / "carve"  # holds only carve.dd
CARVE_NAME = "carve.dd"  # the suffix makes hashwarden carve it as a bare raw image
CARVE_SPEC = DISK_DIR / "carve.json"

EXT4_VERSION = 1
CARVE_VERSION = 1
CARVE_SEED = 20_260_043
CARVE_BYTES = 2_000_000_000
PHOTO_COPIES = 3
SYNTHETIC_PNG = 100
SYNTHETIC_GIF = 100
WRITE_CHUNK = 8 << 20
SBIN_PATH = "/usr/sbin:/sbin"

DD = "dd"
CARVE = "carve"


def tool_env() -> dict[str, str]:
    """The environment for subprocesses, with the sbin directories (mkfs.ext4) on PATH."""
    return dict(os.environ, PATH=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")


def _recorded(spec_file: Path) -> dict | None:
    try:
        return json.loads(spec_file.read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------- ext4 image


def ext4_image(root: Path) -> Path:
    """ext4.img holding the mixed folder's files (mkfs.ext4 -d), built once; rebuilt if the folder's recipe changes."""
    folder_recipe = json.loads(SPEC_FILE.read_text())["recipe"]
    files, total = tree_bytes(root)
    size = int(total * 1.15) + (64 << 20)
    size -= size % 4096
    spec = {"version": EXT4_VERSION, "folder": folder_recipe, "folder_bytes": total, "image_bytes": size}
    image = EXT4_DIR / EXT4_NAME
    recorded = _recorded(EXT4_SPEC)
    if recorded and recorded.get("recipe") == spec and image.is_file():
        return image
    print(f"building {image} (once; {size / 1e9:.2f} GB ext4 holding {files:,} files) ...", flush=True)
    started = time.perf_counter()
    EXT4_SPEC.unlink(missing_ok=True)
    shutil.rmtree(EXT4_DIR, ignore_errors=True)
    EXT4_DIR.mkdir(parents=True)
    partial = DISK_DIR / f"{EXT4_NAME}.partial"
    partial.unlink(missing_ok=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(partial), str(size // 1024) + "k"],
                   env=tool_env(), check=True)
    os.replace(partial, image)
    EXT4_SPEC.write_text(json.dumps({"recipe": spec}, indent=1))
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return image


# --------------------------------------------------------------------------------------------------- carve image


@dataclass(frozen=True)
class Planted:
    """A benign media file written into carve.dd at `offset`."""

    offset: int
    length: int
    format: str
    source: str
    sha256: str


def _media_payloads(rng: np.random.Generator) -> list[tuple[str, str, bytes]]:
    """(format, source name, bytes) of everything to plant: photo copies and small synthetic PNG/GIF."""
    from hashwarden.demo.synthetic import scene

    payloads = []
    for photo in photo_corpus(min_count=30):
        fmt = "jpeg" if photo.suffix.lower() in (".jpg", ".jpeg") else "png"
        data = photo.read_bytes()
        payloads += [(fmt, photo.name, data)] * PHOTO_COPIES
    for kind, count in (("PNG", SYNTHETIC_PNG), ("GIF", SYNTHETIC_GIF)):
        for i in range(count):
            seed = 1000 * (kind == "GIF") + i
            width = int(rng.integers(96, 321))
            buffer = io.BytesIO()
            scene(seed, (width, width * 3 // 4)).save(buffer, kind)
            name = f"scene({seed}, {width}x{width * 3 // 4}).{kind.lower()}"
            payloads.append((kind.lower(), name, buffer.getvalue()))
    return payloads


def _layout(payloads: list[tuple[str, str, bytes]], rng: np.random.Generator) -> list[tuple[int, bytes, Planted]]:
    """Shuffle the payloads and spread them over the image with random (unaligned) gaps of random bytes."""
    order = rng.permutation(len(payloads))
    free = CARVE_BYTES - sum(len(p[2]) for p in payloads)
    weights = rng.random(len(payloads) + 1)
    gaps = np.floor(weights / weights.sum() * free).astype(np.int64)
    placed, position = [], 0
    for gap, index in zip(gaps, order):
        fmt, name, data = payloads[index]
        position += int(gap)
        placed.append((position, data, Planted(position, len(data), fmt, name, hashlib.sha256(data).hexdigest())))
        position += len(data)
    return placed


def carve_image() -> tuple[Path, list[Planted]]:
    """carve.dd and what was planted in it, built once (random bytes written sequentially, media overlaid)."""
    photos = photo_corpus(min_count=30)
    spec = {"version": CARVE_VERSION, "seed": CARVE_SEED, "bytes": CARVE_BYTES, "photo_copies": PHOTO_COPIES,
            "photos": [p.name for p in photos], "png": SYNTHETIC_PNG, "gif": SYNTHETIC_GIF}
    image = CARVE_DIR / CARVE_NAME
    recorded = _recorded(CARVE_SPEC)
    if recorded and recorded.get("recipe") == spec and image.is_file():
        return image, [Planted(**p) for p in recorded["planted"]]
    print(f"building {image} (once; {CARVE_BYTES / 1e9:.2f} GB of random bytes with media planted) ...", flush=True)
    started = time.perf_counter()
    CARVE_SPEC.unlink(missing_ok=True)
    shutil.rmtree(CARVE_DIR, ignore_errors=True)
    CARVE_DIR.mkdir(parents=True)
    rng = np.random.Generator(np.random.PCG64([CARVE_SEED, 1]))
    placed = _layout(_media_payloads(rng), rng)
    partial = DISK_DIR / f"{CARVE_NAME}.partial"
    with open(partial, "wb") as f:
        _write_carve_image(f, placed)
    os.replace(partial, image)
    planted = [p for _, _, p in placed]
    CARVE_SPEC.write_text(json.dumps({"recipe": spec, "planted": [asdict(p) for p in planted]}, indent=1))
    print(f"  built in {time.perf_counter() - started:.0f} s: {len(planted)} media planted", flush=True)
    return image, planted


def _write_carve_image(f: BinaryIO, placed: list[tuple[int, bytes, Planted]]) -> None:
    """Write CARVE_BYTES of PCG64 random bytes in chunks, each with the planted media it covers overlaid."""
    noise = np.random.Generator(np.random.PCG64([CARVE_SEED, 2]))
    first = 0  # index of the first item that may still overlap the current chunk
    for position in range(0, CARVE_BYTES, WRITE_CHUNK):
        n = min(WRITE_CHUNK, CARVE_BYTES - position)
        chunk = bytearray(noise.bytes(n))
        while first < len(placed) and placed[first][0] + len(placed[first][1]) <= position:
            first += 1
        for offset, data, _ in placed[first:]:
            if offset >= position + n:
                break
            low, high = max(offset, position), min(offset + len(data), position + n)
            chunk[low - position : high - position] = data[low - offset : high - offset]
        f.write(chunk)


# --------------------------------------------------------------------------------------------------- the runs


def run_dd(image: Path) -> tuple[float, float]:
    """dd of the whole image to /dev/null in 8 MiB blocks: the sequential-read baseline."""
    return timed([DD, f"if={image}", "of=/dev/null", "bs=8M"])


def run_carve(image: Path) -> tuple[tuple[float, float], list]:
    """The carving pass over the whole image, in this process: ((wall s, CPU s), the carved items)."""
    from hashwarden.evidence.carve import carve

    size = image.stat().st_size
    with open(image, "rb") as f:
        read = lambda off, n: (f.seek(off), f.read(n))[1]  # noqa: E731 - the reader the brief names
        cpu0, start = time.process_time(), time.perf_counter()
        found = list(carve(read, [(0, size)]))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return (wall, cpu), found


def run_carve_scan(exe: Path, source: Path, work: Path) -> tuple[float, float]:
    """One full `hashwarden scan --carve --no-pdq` of the directory holding carve.dd, into `work`."""
    db = work / "hw.db"
    cmd = [str(exe), "scan", str(source), "--case", "bench", "--out", str(work / "out"), "--carve", "--no-pdq",
           "--quiet", "--allow-empty", "--db", str(db)]
    return timed(cmd, env=dict(os.environ, HASHWARDEN_DB=str(db)))


def benchmark(exe: Path, mixed: Path, image: Path, carve_dd: Path, rounds: int,
              scratch: Path) -> tuple[dict[str, Timing], Path]:
    """Interleaved timed rounds of the five commands (order rotating); returns timings and the last report.json."""
    names = [HASHDEEP, HW, HW_SINGLE, DD, CARVE]
    timings = {name: Timing() for name in names}
    last_work: Path | None = None
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            if name == HASHDEEP:
                wall, cpu = run_hashdeep(mixed)
            elif name == DD:
                wall, cpu = run_dd(carve_dd)
            elif name == CARVE:
                (wall, cpu), _ = run_carve(carve_dd)
            else:
                work = Path(tempfile.mkdtemp(prefix=f"round{r}-", dir=scratch))
                wall, cpu = run_hashwarden(exe, image.parent, work, verify_after=name == HW)
                if name == HW:
                    if last_work is not None:
                        shutil.rmtree(last_work)  # only the last round's report is kept
                    last_work = work
                else:
                    shutil.rmtree(work)
            timings[name].wall.append(wall)
            timings[name].cpu.append(cpu)
        summary = ", ".join(f"{n} {timings[n].wall[-1]:.1f} s" for n in names)
        print(f"  round {r + 1}/{rounds}: {summary}", flush=True)
    assert last_work is not None
    return timings, last_work / "out" / "report.json"


# --------------------------------------------------------------------------------------------------- correctness


def inside_image(report: dict[str, tuple[str, str, str]], image_name: str) -> dict[str, tuple[str, str, str]]:
    """The report's items inside `image_name`, keyed by their path within the image's file system."""
    prefix = image_name + "/"
    return {path[len(prefix):]: digests for path, digests in report.items() if path.startswith(prefix)}


def check_planted(found: list[tuple[int, int, str | None]], planted: list[Planted], label: str) -> list[str]:
    """Print found/planted for carved (offset, length, sha256 or None) items; return the problem lines.

    A planted JPEG carved at its offset but shorter is counted apart when the carved length ends on an
    end-of-image marker (FF D9) of the planted file: the file carries bytes after its JPEG stream, which a
    structure-walking carver rightly leaves out.
    """
    by_offset = {offset: (length, sha) for offset, length, sha in found}
    exact = stream_end = 0
    problems = []
    sources = {p.name: p for p in photo_corpus(min_count=30)}
    for item in planted:
        hit = by_offset.get(item.offset)
        if hit is None:
            problems.append(f"  {label}: not found: {item.source} at {item.offset:,} ({item.length:,} bytes)")
        elif hit[0] == item.length and hit[1] in (None, item.sha256):
            exact += 1
        elif hit[0] < item.length and item.source in sources and \
                sources[item.source].read_bytes()[hit[0] - 2 : hit[0]] == b"\xff\xd9":
            stream_end += 1
            problems.append(f"  {label}: {item.source} at {item.offset:,}: carved {hit[0]:,} of {item.length:,} "
                            f"bytes, up to its end-of-image marker (the file has "
                            f"{item.length - hit[0]:,} bytes after it)")
        else:
            problems.append(f"  {label}: {item.source} at {item.offset:,}: carved length {hit[0]:,}, planted "
                            f"{item.length:,}" + ("" if hit[1] in (None, item.sha256) else ", sha256 differs"))
    planted_offsets = {p.offset for p in planted}
    extra = sum(1 for offset in by_offset if offset not in planted_offsets)
    print(f"{label}: planted items found at their offset with their length: {exact}/{len(planted)}"
          + (f" (+{stream_end} at their offset, ending at the JPEG end-of-image before trailing bytes)"
             if stream_end else "")
          + f"; {extra} other items carved from the random bytes")
    return problems


def carved_in_report(report: Path, image_name: str) -> list[tuple[int, int, str | None]]:
    """(offset, length, sha256) of the carved items of `image_name` in a report.json."""
    items = json.loads(report.read_text(encoding="utf-8"))["items"]
    out = []
    for item in items:
        if item.get("carved") and item["path"].startswith(image_name + "/"):
            out.append((int(item["offset"]), int(item["length"]), item.get("sha256")))
    return out


# --------------------------------------------------------------------------------------------------- output


def _median(values: list[float]) -> float:
    return statistics.median(values)


def print_table(timings: dict[str, Timing], inside: int, image_bytes: int, carve_bytes: int, rounds: int) -> None:
    """The per-command medians; MB/s over the bytes of files inside the image for the disk lines."""
    base = _median(timings[HASHDEEP].wall)
    print(f"median of {rounds} rounds")
    print(f"disk image: MB/s = 10^6 bytes of the files inside ({inside / 1e9:.2f} GB) per wall second; "
          f"'all MB/s' counts every byte the command digests")
    header = f"{'command':<30} {'MB/s':>8} {'all MB/s':>9} {'ratio':>7}   {'CPU s':>7}   {'wall s':>7}"
    print(header)
    print("-" * len(header))
    processed = {HASHDEEP: inside, HW: inside + 2 * image_bytes, HW_SINGLE: inside + image_bytes}
    for name in (HASHDEEP, HW, HW_SINGLE):
        wall = _median(timings[name].wall)
        print(f"{name:<30} {inside / 1e6 / wall:>8.0f} {processed[name] / 1e6 / wall:>9.0f} {base / wall:>6.2f}x"
              f"   {_median(timings[name].cpu):>7.1f}   {wall:>7.2f}")
    print("(ratio = hashdeep's time / the command's time; CPU s = user + sys of all the command's processes)")
    print()
    print(f"carving: GB/s = 10^9 bytes of {CARVE_NAME} ({carve_bytes / 1e9:.2f} GB) per wall second")
    header = f"{'command':<30} {'GB/s':>8} {'ratio':>7}   {'CPU s':>7}   {'wall s':>7}"
    print(header)
    print("-" * len(header))
    dd_wall = _median(timings[DD].wall)
    for name, label in ((DD, "dd bs=8M"), (CARVE, "carve (one sequential pass)")):
        wall = _median(timings[name].wall)
        print(f"{label:<30} {carve_bytes / 1e9 / wall:>8.2f} {dd_wall / wall:>6.2f}x"
              f"   {_median(timings[name].cpu):>7.1f}   {wall:>7.2f}")
    print("(ratio = dd's time / the command's time; the carve CPU s is this process's own)")


def print_problems(problems: list[str], limit: int = 30) -> None:
    for line in problems[:limit]:
        print(line)
    if len(problems) > limit:
        print(f"  ... and {len(problems) - limit} more")


def profile_carve(image: Path, top: int = 12) -> None:
    """cProfile of one carving pass: where its time goes."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    run_carve(image)
    profiler.disable()
    print("profile of one carving pass (cProfile, cumulative; profiling overhead included):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# --------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description="Disk image scan vs hashdeep, and carving vs dd.")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds (default 3)")
    parser.add_argument("--profile-carve", action="store_true", help="also print a cProfile of one carving pass")
    args = parser.parse_args()
    rounds = max(1, args.rounds)

    for tool in (HASHDEEP, DD):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing (apt-get install hashdeep coreutils)")
    if shutil.which("mkfs.ext4", path=tool_env()["PATH"]) is None:
        sys.exit("mkfs.ext4 is missing: apt-get install e2fsprogs")
    exe = hashwarden_exe()
    if not scan_available(exe):
        sys.exit(f"`{exe} scan` is not available")
    mixed = mixed_folder().resolve()
    files, inside = tree_bytes(mixed)
    image = ext4_image(mixed).resolve()
    carve_dd, planted = carve_image()
    carve_dd = carve_dd.resolve()
    image_bytes = image.stat().st_size
    carve_bytes = carve_dd.stat().st_size

    print(__doc__.splitlines()[0])
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (hashdeep: one thread per core; hashwarden: one "
          f"worker process per core); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"folder (hashdeep): {mixed} - {files:,} files, {inside / 1e9:.2f} GB")
    print(f"ext4 image (hashwarden): {image} - {image_bytes / 1e9:.2f} GB holding the same files")
    print(f"  note: hashwarden also hashes the image file itself (the container, {image_bytes / 1e9:.2f} GB, md5 + "
          f"sha1 + sha256) and, by default, re-reads it once (sha256) for the custody record: it digests "
          f"{(inside + 2 * image_bytes) / 1e9:.2f} GB ({(inside + image_bytes) / 1e9:.2f} GB with "
          f"--no-verify-after) where hashdeep digests {inside / 1e9:.2f} GB")
    print(f"carve image: {carve_dd} - {carve_bytes / 1e9:.2f} GB, {len(planted)} media planted "
          f"({sum(p.length for p in planted) / 1e6:.0f} MB)")
    print("page cache: one untimed warm-up run of every command first, so every timed run reads cached data")

    with tempfile.TemporaryDirectory(prefix="hw-bench-disk-") as tmp:
        scratch = Path(tmp)
        listing = scratch / "hashdeep.txt"
        with open(listing, "wb") as f:
            run_hashdeep(mixed, stdout=f)
        run_hashwarden(exe, image.parent, Path(tempfile.mkdtemp(prefix="warmup-", dir=scratch)))
        run_dd(carve_dd)
        _, carved = run_carve(carve_dd)
        timings, report = benchmark(exe, mixed, image, carve_dd, rounds, scratch)

        print("full carving scan (once, informational): hashwarden scan CARVE_DIR --carve --no-pdq --quiet")
        carve_work = Path(tempfile.mkdtemp(prefix="carve-scan-", dir=scratch))
        scan_wall, scan_cpu = run_carve_scan(exe, carve_dd.parent, carve_work)
        print(f"  wall {scan_wall:.1f} s, CPU {scan_cpu:.1f} s (carving pass, hashing the image and every carved item, "
              f"custody re-read)")
        load = os.getloadavg()
        print(f"load average after the runs: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

        print()
        print_table(timings, inside, image_bytes, carve_bytes, rounds)
        print()
        ours = inside_image(parse_report(report), EXT4_NAME)
        print_problems(compare(ours, parse_hashdeep(listing, mixed)))
        problems = check_planted([(c.offset, c.length, None) for c in carved], planted, "carve pass (in-process)")
        problems += check_planted(carved_in_report(carve_work / "out" / "report.json", CARVE_NAME), planted,
                                  "hashwarden scan --carve")
        print_problems(problems)
        if args.profile_carve:
            print()
            profile_carve(carve_dd)

    base = _median(timings[HASHDEEP].wall)
    dd_wall = _median(timings[DD].wall)
    print()
    for name in (HASHDEEP, HW, HW_SINGLE):
        print(f"{name + ':':<31} {inside / 1e6 / _median(timings[name].wall):>6.0f} MB/s (files inside)")
    print(f"{'dd:':<31} {carve_bytes / 1e9 / dd_wall:>6.2f} GB/s")
    print(f"{'carve:':<31} {carve_bytes / 1e9 / _median(timings[CARVE].wall):>6.2f} GB/s")
    print(f"{'hashwarden scan --carve:':<31} {scan_wall:>6.1f} s wall (informational)")
    print(f"ratio hashwarden / hashdeep (disk image): {base / _median(timings[HW].wall):.2f}x")
    print(f"ratio hashwarden --no-verify-after / hashdeep (disk image): {base / _median(timings[HW_SINGLE].wall):.2f}x")
    print(f"ratio carving / dd: {dd_wall / _median(timings[CARVE].wall):.2f}x")


if __name__ == "__main__":
    main()
