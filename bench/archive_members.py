"""Archive scan time against member count: linear, not quadratic (issue 14, point 12).

Before the one-pass reader, every member re-opened its archive and decompressed from the start: a zip of 1,000 /
2,000 / 4,000 empty members took 3.6 / 11.8 / 60 s, and a 100k-member zip about 10 hours. This bench builds zip,
tar.gz and 7z archives of 10k / 50k / 100k small distinct members (benign text) and scans each with
`hashwarden scan` (as a library, one worker, digests only, no second read), next to a folder holding the same
files, which is the baseline: a folder's files are listed and read one by one, with no container at all.

Printed per format and size: seconds (median of the rounds), microseconds per member, the ratio to the folder
of the same files, and linearity = (t(N) / N) / (t(10k) / 10k): 1.0 is perfectly linear, a quadratic reader would
show 5 and 10 at 50k and 100k.

    python bench/archive_members.py                 # 10k, 50k, 100k; 1 round
    python bench/archive_members.py --rounds 3      # medians of 3 interleaved rounds
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from hashwarden.config import ScanSettings
from hashwarden.scan import run_scan
from hashwarden.store import open_store


def content(i: int) -> bytes:
    return f"member {i:07d}\n".encode()


def build(kind: str, n: int, where: Path) -> Path:
    if kind == "folder":
        folder = where / f"folder-{n}"
        for i in range(n):
            sub = folder / f"d{i // 1000:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:07d}.txt").write_bytes(content(i))
        return folder
    path = where / f"members-{n}.{ {'zip': 'zip', 'tar.gz': 'tar.gz', '7z': '7z'}[kind] }"
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for i in range(n):
                archive.writestr(f"d{i // 1000:03d}/f{i:07d}.txt", content(i))
    elif kind == "tar.gz":
        with tarfile.open(path, "w:gz") as archive:
            for i in range(n):
                data = content(i)
                info = tarfile.TarInfo(f"d{i // 1000:03d}/f{i:07d}.txt")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    else:
        import libarchive

        with libarchive.file_writer(str(path), "7zip") as archive:
            for i in range(n):
                data = content(i)
                archive.add_file_from_memory(f"d{i // 1000:03d}/f{i:07d}.txt", len(data), data)
    single = where / f"src-{kind}-{n}"
    single.mkdir()
    shutil.move(str(path), single / path.name)
    return single


def scan_seconds(source: Path, work: Path, expected: int) -> float:
    out = Path(tempfile.mkdtemp(dir=work))
    engine = open_store(f"sqlite:///{out / 'hw.db'}")
    settings = ScanSettings(allow_empty=True, workers=1, compute_pdq=False, known_filter=False, verify_after=False)
    started = time.perf_counter()
    result = run_scan([str(source)], "BENCH", out / "case", engine, settings)
    elapsed = time.perf_counter() - started
    engine.dispose()
    items = result.summary["items"]
    if items < expected:
        raise SystemExit(f"{source}: {items} items, expected at least {expected}")
    shutil.rmtree(out)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["zip", "tar.gz", "7z"])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hw-bench-archive-"))
    try:
        kinds = ["folder", *args.formats]
        sources = {(kind, n): build(kind, n, work) for kind in kinds for n in args.sizes}
        times: dict[tuple[str, int], list[float]] = {key: [] for key in sources}
        for _ in range(args.rounds):  # interleaved: every kind and size once per round
            for (kind, n), source in sources.items():
                times[(kind, n)].append(scan_seconds(source, work, n))
        print(f"{'format':8} {'members':>8} {'seconds':>8} {'us/member':>10} {'vs folder':>10} {'linearity':>10}")
        for kind in kinds:
            first = args.sizes[0]
            base = statistics.median(times[(kind, first)]) / first
            for n in args.sizes:
                t = statistics.median(times[(kind, n)])
                folder = statistics.median(times[("folder", n)])
                print(f"{kind:8} {n:>8,} {t:>8.2f} {t / n * 1e6:>10.1f} {t / folder:>9.2f}x "
                      f"{(t / n) / base:>10.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
