"""Commands on evidence and media: `hash`, `match`, `scan` and `demo`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hashwarden.config import EXPANSION_FLOOR, EXPANSION_RATIO, VPDQ_QUERY_SECONDS_PER_HASH, ScanSettings
from hashwarden.cli.common import (
    app, out, err, ExitCode, DbOption, PdqThreshold, PdqMinQuality, SecondsPerHash, VideoQueryPercent,
    VideoComparedPercent, engine_for,
    AllowEmpty, show_progress, RichProgress, lines_in_out,
)

# Every option default is the library's own (config.py): a command, a script and the service scan alike.
DEFAULTS = ScanSettings()


@app.command("hash")
def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (folders are walked); - reads paths from "
                                                     "standard input, one per line.")],
    dihedral: Annotated[bool, typer.Option("--dihedral", help="Also print the 8 dihedral PDQ hashes.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Processes (0 = one per core).")] = DEFAULTS.workers,
    for_set: Annotated[bool, typer.Option(
        "--for-set", help="Hashes meant for a hash set (`import hashes`): videos hashed at every frame, so trimmed "
        "copies are found.")] = False,
    seconds_per_hash: Annotated[Optional[float], typer.Option(
        "--seconds-per-hash", min=0.0, help="Videos: hash one frame per this many seconds (0 = every frame; "
        f"default {VPDQ_QUERY_SECONDS_PER_HASH:g}, or every frame with --for-set; given with --for-set, it wins)."
    )] = None,
) -> None:
    """Hash files: one JSON object per file per line (md5, sha1, sha256, media, pdq, pdq_quality; for videos
    vpdq: [{frame, quality, pdq, timestamp}]).

    Example: hashwarden hash photos/ > hashes.jsonl
    Example: hashwarden hash --for-set known/ > known.jsonl && hashwarden import hashes known.jsonl --set local
    
"""
    from hashwarden.scan.hash_files import hash_for_set, hash_paths

    worker_count = ScanSettings(workers=workers).worker_count()
    names = [line.rstrip("\n") for line in sys.stdin if line.strip()] if [str(p) for p in paths] == ["-"] \
        else [str(p) for p in paths]
    problems = []

    def warn(message: str) -> None:
        problems.append(message)
        err.print(message, markup=False, highlight=False)

    with (RichProgress() if show_progress(False) else contextlib.nullcontext()) as progress:
        options = {"dihedral": dihedral, "workers": worker_count, "warn": warn, "progress": progress}
        if for_set:
            records = hash_for_set(names, seconds_per_hash=seconds_per_hash, **options)
        else:
            rate = VPDQ_QUERY_SECONDS_PER_HASH if seconds_per_hash is None else seconds_per_hash
            records = hash_paths(names, seconds_per_hash=rate, **options)
        for record in records:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    if any(not message.startswith("skipped ") for message in problems):
        raise typer.Exit(ExitCode.FATAL)  # a path that could not be read: the listing is incomplete


@app.command("match")
def match_command(
    hashes: Annotated[Path, typer.Argument(help="JSON lines as `hashwarden hash` writes them (- for stdin).")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Where to write (default stdout).")] = None,
    pdq_threshold: PdqThreshold = DEFAULTS.pdq_threshold,
    pdq_min_quality: PdqMinQuality = DEFAULTS.pdq_min_quality,
    no_nsrl: Annotated[bool, typer.Option("--no-nsrl", help="Do not report files of ignorable sets (NSRL).")] = (
        not DEFAULTS.known_filter),
    vpdq_query_percent: VideoQueryPercent = DEFAULTS.vpdq_query_percent,
    vpdq_compared_percent: VideoComparedPercent = DEFAULTS.vpdq_compared_percent,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary.")] = False,
    allow_empty: AllowEmpty = DEFAULTS.allow_empty,
    db: DbOption = None,
) -> None:
    """Match hashes against every hash set: each line back with `status` and `matches`, as a scan reports them.

    PDQ hashes are matched in batches through the index (a batch join), for lists of millions of lines.
    Example: hashwarden hash upload/ | hashwarden match - -o matched.jsonl
    """
    from hashwarden.scan.match_hashes import match_lines, matcher_for

    if not 0 <= pdq_threshold <= 256:
        raise typer.BadParameter("must be between 0 and 256", param_hint="--pdq-threshold")
    settings = dataclasses.replace(DEFAULTS, pdq_threshold=pdq_threshold, pdq_min_quality=pdq_min_quality,
                       known_filter=not no_nsrl, vpdq_query_percent=vpdq_query_percent,
                       vpdq_compared_percent=vpdq_compared_percent, allow_empty=allow_empty)
    matcher = matcher_for(engine_for(db, create=allow_empty), settings)
    with lines_in_out(hashes, output) as (source, target):
        if show_progress(quiet):
            with RichProgress() as progress:
                progress.phase("matching", None)
                counts = match_lines(matcher, source, str(hashes), target, progress.advance)
        else:
            counts = match_lines(matcher, source, str(hashes), target)
    if not quiet:
        err.print(", ".join(f"{status}: {counts.get(status, 0):,}" for status in ("known", "ignorable", "unknown")))


@app.command("scan")
def scan_command(
    sources: Annotated[list[str], typer.Argument(help="Folders or files to scan (read-only).")],
    case: Annotated[str, typer.Option("--case", help="Case name or number.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Case directory: case.db, report.json/html, custody.json.")],
    workers: Annotated[int, typer.Option("--workers", help="Hashing processes (0 = one per core).")] = DEFAULTS.workers,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted scan in --out.")] = False,
    pdq_threshold: PdqThreshold = DEFAULTS.pdq_threshold,
    pdq_min_quality: PdqMinQuality = DEFAULTS.pdq_min_quality,
    no_pdq: Annotated[bool, typer.Option("--no-pdq", help="Digests only: do not decode images.")] = (
        not DEFAULTS.compute_pdq),
    carve: Annotated[
        bool, typer.Option("--carve", help="Also carve media (JPEG, PNG, GIF, WebP, MP4/MOV) from unallocated space.")
    ] = DEFAULTS.carve,
    no_verify_after: Annotated[
        bool, typer.Option("--no-verify-after", help="Skip re-reading the evidence for the custody 'after' listing.")
    ] = not DEFAULTS.verify_after,
    verify: Annotated[
        bool, typer.Option("--verify", help="Verify E01 images against their stored MD5/SHA-1 (like ewfverify).")
    ] = DEFAULTS.verify_ewf,
    no_nsrl: Annotated[
        bool, typer.Option("--no-nsrl", help="No known-file filter: files in ignorable sets (NSRL) are decoded for PDQ "
                                             "like any other.")
    ] = not DEFAULTS.known_filter,
    seconds_per_hash: SecondsPerHash = DEFAULTS.vpdq_seconds_per_hash,
    vpdq_query_percent: VideoQueryPercent = DEFAULTS.vpdq_query_percent,
    vpdq_compared_percent: VideoComparedPercent = DEFAULTS.vpdq_compared_percent,
    max_expanded_bytes: Annotated[int, typer.Option(
        "--max-expanded-bytes", min=0,
        help="Bytes one file's contents (nested containers included) may expand to "
             f"(0 = max({EXPANSION_FLOOR >> 30} GiB, {EXPANSION_RATIO} x its size)).",
    )] = DEFAULTS.limits.max_expanded_bytes,
    max_members: Annotated[int, typer.Option(
        "--max-members", min=1, help="Members (at every nesting level) one file may hold before expansion stops.",
    )] = DEFAULTS.limits.max_members,
    key_file: Annotated[Optional[Path], typer.Option(
        "--key-file", help="Passwords and recovery keys for BitLocker, LUKS, APFS and encrypted QCOW volumes, one "
                           "per line: password:..., recovery:..., keyfile:PATH.",
    )] = DEFAULTS.key_file,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    allow_empty: AllowEmpty = DEFAULTS.allow_empty,
    db: DbOption = None,
) -> None:
    """Scan seized folders against every hash set and write the case report.

    Example: hashwarden scan /mnt/evidence/usb1 --case 2026-0042 --out cases/2026-0042
    """
    from hashwarden.scan.worker import worker_pool

    if not 0 <= pdq_threshold <= 256:
        raise typer.BadParameter("must be between 0 and 256", param_hint="--pdq-threshold")
    if not case.strip():
        raise typer.BadParameter("a case name or number is required (custody.json and the report carry it)",
                                 param_hint="--case")
    if len({os.path.abspath(source) for source in sources}) < len(sources):
        err.print("warning: a source was given more than once; it is scanned once", markup=False)
    settings = dataclasses.replace(
        DEFAULTS, pdq_threshold=pdq_threshold, pdq_min_quality=pdq_min_quality, workers=workers,
        compute_pdq=not no_pdq, carve=carve, verify_ewf=verify, known_filter=not no_nsrl,
        verify_after=not no_verify_after, vpdq_seconds_per_hash=seconds_per_hash,
        vpdq_query_percent=vpdq_query_percent, vpdq_compared_percent=vpdq_compared_percent,
        limits=dataclasses.replace(DEFAULTS.limits, max_expanded_bytes=max_expanded_bytes, max_members=max_members),
        key_file=str(key_file) if key_file else None, allow_empty=allow_empty,
    )
    # the workers start first: their interpreters and image readers load beside the store's opening
    pool = worker_pool(settings.worker_count(), sources)
    try:
        with pool if pool is not None else contextlib.nullcontext():
            from hashwarden.scan import run_scan

            engine = engine_for(db, create=allow_empty)
            kwargs = dict(resume=resume, command=sys.argv, pool=pool)
            if show_progress(quiet):
                with RichProgress() as progress:
                    result = run_scan(sources, case, out_dir, engine, settings, progress=progress, **kwargs)
            else:
                result = run_scan(sources, case, out_dir, engine, settings, **kwargs)
    except KeyboardInterrupt:
        err.print(f"interrupted: what was hashed is kept in {out_dir}/case.db. To continue, run the same command "
                  "with --resume", markup=False)
        raise typer.Exit(130) from None
    if not quiet:
        print_summary(result.summary, result.files)


def print_summary(summary: dict, files: dict) -> None:
    """The Rich summary table a scan ends with."""
    from rich.markup import escape  # Rich is loaded by what prints (a --quiet scan prints nothing)
    from rich.table import Table

    table = Table(title="scan summary", show_header=True)
    table.add_column("status")
    table.add_column("items", justify="right")
    styles = {"known": "bold red", "unknown": "bold yellow", "ignorable": "green", "error": "magenta"}
    for status in ("unknown", "known", "ignorable", "error"):
        table.add_row(f"[{styles[status]}]{status}[/]", f"{summary.get(status, 0):,}")
    table.add_row("skipped (special files)", f"{summary.get('skipped', 0):,}")
    table.add_row("total items", f"{summary.get('items', 0):,}")
    out.print(table)
    for key, count in summary.get("by_category", {}).items():
        out.print(f"  known in category {escape(key)}: {count:,}")
    for name in ("report.html", "report.json", "custody.json"):
        if name in files:
            out.print(f"{name}: {escape(str(files[name]))}")


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to build the demo (recreated).")] = Path("demo-output"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Build benign synthetic images, a hash set and a 'seized' folder, scan it, and show the summary."""
    from hashwarden.demo.run import run_demo

    result = run_demo(out_dir, progress=RichProgress if show_progress(quiet) else None, console=out.console)
    if not quiet:
        print_summary(result.summary, result.files)
