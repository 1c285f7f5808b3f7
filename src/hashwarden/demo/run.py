"""`make demo`: a self-contained end-to-end run on benign synthetic images and the embedded SQLite store.

It builds what an examiner meets: an alert hash set made from some "known" images, a known-benign (ignorable)
set, and a "seized" folder holding exact copies, re-encoded, resized, cropped, rotated and mirrored copies,
a known video's copy trimmed by half a second, re-encoded and resized, unrelated images, corrupt files and a
nested tree, then scans it so that every status appears in the report; last, three reviewers grade two of the
unknown photos and the confirmed grade is published as a set (`grade_demo`). The alert set is built as an analyst
should build one, with `hash_for_set` (`hashwarden hash --for-set`: known videos hashed at every frame).
Every picture is drawn by `hashwarden.demo.synthetic`; nothing is downloaded and nothing needs ../shared.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import corrupt_files, save, scene, variant, video
from hashwarden.errors import ScanError
from hashwarden.scan import ScanResult, run_scan
from hashwarden.scan.hash_files import hash_for_set, hash_paths
from hashwarden.store import create_set, open_store
from hashwarden.store.loader import import_entries

MARKER = ".hashwarden-demo"
DATABASE = "hashwarden.db"  # the demo's hash database in its --out folder (`make serve` serves it)
KNOWN_SEEDS = range(8)
# Which copy of which known image goes into the seized folder, and under what name.
SEIZED_COPIES: tuple[tuple[int, str, str], ...] = (
    (0, "exact", "DCIM/100CAM/IMG_0001.jpg"),
    (1, "exact", "Downloads/holiday.jpeg"),
    (2, "reencoded", "DCIM/100CAM/IMG_0002.jpg"),
    (3, "resized", "Pictures/small/resized.jpg"),
    (4, "cropped", "Pictures/cropped.png"),
    (5, "rot90", "Pictures/rotated/rot90.jpg"),
    (6, "mirrored", "Pictures/mirrored.png"),
    (7, "rot180", "deep/a/b/c/d/e/f/g/h/upside_down.jpg"),
    (3, "transposed", "deep/a/b/transposed.webp"),
)
UNRELATED_SEEDS = range(100, 106)
KNOWN_VIDEO_SEED = 20
# A copy of the known video as it turns up on a device: cut 0.5 s in (between the frames a 1/s set would hold),
# re-encoded at CRF 30 and at 3/4 size. Found because the set holds every frame of the known video.
SEIZED_VIDEO = "Videos/clip.mp4"
# The demo's grading step: three reviewers' categories (uk-sentencing) for two unknown photos of the seized folder.
DEMO_GRADES = {"Pictures/unsorted/photo_100.jpg": ("C", "C", "C"), "Pictures/unsorted/photo_101.jpg": ("B", "C", "C")}
DEMO_GRADED_SET = "demo-graded"


def _prepare(out_dir: Path) -> None:
    """Recreate `out_dir`, refusing to delete a folder the demo did not make."""
    if out_dir.exists():
        if not (out_dir / MARKER).exists() and any(out_dir.iterdir()):
            raise ScanError(f"{out_dir} exists and was not made by the demo: choose another --out")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / MARKER).write_text("made by `hashwarden demo`; deleted and rebuilt on every run\n")


def build_demo_evidence(out_dir: Path) -> tuple[Path, Path, Path]:
    """Write the known images, the known-benign files and the seized folder; return their three folders."""
    known_dir, benign_dir, seized = out_dir / "known-images", out_dir / "known-benign", out_dir / "seized"
    originals = {seed: scene(seed) for seed in KNOWN_SEEDS}
    for seed, image in originals.items():
        save(image, known_dir / f"known-{seed}.jpg")
    for seed, kind, name in SEIZED_COPIES:
        target = seized / name
        if kind == "exact":
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(known_dir / f"known-{seed}.jpg", target)
        else:
            fmt = {".png": "PNG", ".webp": "WEBP"}.get(target.suffix, "JPEG")
            extra = {"lossless": True} if fmt == "WEBP" else {}
            save(variant(originals[seed], kind, seed), target, fmt, **extra)
    video(known_dir / "known-video.mp4", KNOWN_VIDEO_SEED)
    (seized / SEIZED_VIDEO).parent.mkdir(parents=True, exist_ok=True)
    video(seized / SEIZED_VIDEO, KNOWN_VIDEO_SEED, start=0.5, seconds=3.5, scale=0.75, crf=30)
    for seed in UNRELATED_SEEDS:
        save(scene(seed, (800, 600)), seized / "Pictures" / "unsorted" / f"photo_{seed}.jpg")
    # Known-benign files (what NSRL provides in real life): identical bytes in the set and on the device.
    benign_dir.mkdir(parents=True)
    for index in range(3):
        content = (f"benign program file {index}\n" * (200 + index)).encode()
        (benign_dir / f"program{index}.dll").write_bytes(content)
        target = seized / "Program Files" / "App" / f"program{index}.dll"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    corrupt_files(seized / "broken")
    (seized / "notes.txt").write_text("shopping list\n")
    os.symlink("/etc/hostname", seized / "link-outside")
    return known_dir, benign_dir, seized


def run_demo(
    out_dir: Path,
    progress: Callable[[], Any] | None = None,
    console: Console | None = None,
    workers: int = 0,
) -> ScanResult:
    """Build the demo evidence and hash database in `out_dir`, scan, and return the scan result."""
    console = console or Console(quiet=True)
    out_dir = out_dir.resolve()
    _prepare(out_dir)
    console.print(f"building benign synthetic evidence in {out_dir}")
    known_dir, benign_dir, seized = build_demo_evidence(out_dir)
    engine = open_store(f"sqlite:///{out_dir / DATABASE}")
    with engine.begin() as conn:
        create_set(conn, "demo-alert", "alert", source="demo", category_scheme="demo", version="1")
        create_set(conn, "demo-benign", "ignorable", source="demo", version="1")
    records = list(hash_for_set([str(known_dir)], workers=1))
    lines = [json.dumps({**r, "category": str(1 + i % 3), "series": f"demo-series-{i % 2}"}) for i, r in enumerate(records)]
    _import_lines(engine, "demo-alert", lines, out_dir / "demo-alert.jsonl")
    _import_lines(engine, "demo-benign", [json.dumps(r) for r in hash_paths([str(benign_dir)])], out_dir / "demo-benign.jsonl")
    console.print(f"hash sets: demo-alert ({len(records)} images and videos), demo-benign (3 files); scanning {seized}")
    settings = ScanSettings(workers=workers)
    command = ["hashwarden", "demo", "--out", str(out_dir)]
    if progress:
        with progress() as bar:
            result = run_scan([str(seized)], "DEMO-0001", out_dir / "case", engine, settings, command=command,
                              progress=bar)
    else:
        result = run_scan([str(seized)], "DEMO-0001", out_dir / "case", engine, settings, command=command)
    console.print(grade_demo(engine, out_dir / "case"), markup=False, highlight=False)
    return result


def grade_demo(engine: Any, case_dir: Path) -> str:
    """Three demo reviewers grade two of the scan's unknown photos by their report.json items (one they agree on,
    one they do not), the confirmed grade is published as the set `DEMO_GRADED_SET`, and the statistics of the
    case's grades are written to `stats/` beside the case; returns what happened, in words. Grading records decisions only: the photos are benign and nobody is shown anything."""
    from hashwarden.grading.consensus import grades
    from hashwarden.grading.publish import publish
    from hashwarden.grading.stats import STATUSES, StatsQuery, compute_stats, write_stats
    from hashwarden.grading.votes import cast_votes, hashes_of_case_item
    from hashwarden.store.records import Vote

    votes = []
    for (path, categories), reviewer in ((item, n) for item in DEMO_GRADES.items() for n in range(3)):
        hashes = hashes_of_case_item(case_dir, path)
        votes.append(Vote(scheme="uk-sentencing", category=categories[reviewer], agency="Demo Force",
                          reviewer=f"demo reviewer {reviewer + 1}", age_band="14-15", sex="female", **hashes))
    with engine.begin() as conn:
        cast_votes(conn, votes)
    with engine.begin() as conn:
        done = publish(conn, DEMO_GRADED_SET, "uk-sentencing")
        states = ", ".join(f"{g.state} ({g.category.value or 'split'})" for g in grades(conn))
    with engine.connect() as conn:  # every state, so the disputed photo is counted too (as "disputed")
        counted = compute_stats(conn, StatsQuery(statuses=STATUSES, case_dir=case_dir))
    write_stats(counted, case_dir.parent / "stats")
    return (f"grading: 6 votes on 2 unknown photos: {states}; published {DEMO_GRADED_SET} version {done.version} "
            f"({done.entries} entry); statistics of the {counted['total']} graded in stats/stats.html")


def _import_lines(engine: Any, set_name: str, lines: list[str], path: Path) -> None:
    """Write the hash list as a file (as an analyst would receive it) and import it the way the CLI does."""
    from hashwarden.formats import jsonl

    path.write_text("\n".join(lines) + "\n")
    with path.open("rb") as fp:
        import_entries(engine, set_name, jsonl.read(fp, str(path)), {"file": str(path), "format": "hashes"})
