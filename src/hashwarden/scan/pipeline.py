"""The scan: enumerate -> hash (parallel workers) -> match and record (one writer) -> verify -> report.

One process owns the case database and matching; workers only read evidence and hash. The order of items in the
report never depends on worker timing, and a resumed scan skips every item already committed, so an interrupted
and resumed scan yields the same report.json as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Engine

from hashwarden.config import COMMIT_EVERY_ITEMS, COMMIT_EVERY_SECONDS, ScanSettings
from hashwarden.errors import EvidenceReadError, ScanError
from hashwarden.evidence import FolderItem, FolderSource, Skipped
from hashwarden.scan.case import CaseDB, CaseLock
from hashwarden.scan.custody import Listing, custody_summary, write_custody
from hashwarden.scan.known_files import open_known_filter
from hashwarden.scan.parallel import WorkerDied, WorkerPool, parallel_map, parallel_stream
from hashwarden.scan.store_sets import refuse_empty_store, sets_in_use
from hashwarden.scan.worker import Message, scan_file, sha256_item, worker_pool
from hashwarden.signals import HashOptions
from hashwarden.store import audit
from hashwarden.store.db import utc_now

if TYPE_CHECKING:  # matching (its indexes, NumPy), the report and the leads load once the workers have their files
    from hashwarden.scan.matcher import Matcher


class Progress(Protocol):
    """Where the scan reports progress; the CLI renders it with Rich, tests and --quiet pass None."""

    def phase(self, description: str, total: int | None) -> None: ...

    def advance(self, count: int = 1) -> None: ...


@dataclass
class ScanResult:
    """Where the scan wrote its outputs, and the summary the CLI prints."""

    out_dir: Path
    summary: dict[str, Any]
    hashed_this_run: int
    files: dict[str, Path] = field(default_factory=dict)


def run_scan(
    sources: list[str],
    case: str,
    out_dir: Path,
    engine: Engine,
    settings: ScanSettings = ScanSettings(),
    *,
    resume: bool = False,
    command: list[str] | None = None,
    progress: Progress | None = None,
    pool: WorkerPool | None = None,
) -> ScanResult:
    """Scan `sources` for the case `case` into `out_dir`.

    `pool`: worker processes the caller started early (`worker.worker_pool`, as the CLI does before it opens the
    store); by default the scan starts its own when `settings` asks for more than one worker.

    Raises:
        ScanError: a source is missing or contains `out_dir`, the directory holds another scan, or a resume does
            not match the scan it continues.
    """
    started = utc_now()
    roots = _check_sources(sources, out_dir)
    own = worker_pool(settings.worker_count(), roots) if pool is None else None
    with own if own is not None else contextlib.nullcontext():
        return _scan(roots, case, out_dir, engine, settings, started, resume, command or [], progress, pool or own)


def _scan(
    roots: list[str], case: str, out_dir: Path, engine: Engine, settings: ScanSettings, started: str, resume: bool,
    command: list[str], progress: Progress | None, pool: WorkerPool | None,
) -> ScanResult:
    """`run_scan` with its workers started.

    Work is ordered so the workers start early: the files are listed and handed out before the matcher is built
    (its indexes, NumPy), which then happens while they hash. The known-file filter the workers consult is opened
    before them, so it may be a moment older than the matcher's generation: an item added to an ignorable set in
    that moment is reported unknown (surfaced), never hidden.
    """
    if not settings.allow_empty:  # before anything is written: a refused scan leaves no case directory behind
        refuse_empty_store(engine)
    out_dir.mkdir(parents=True, exist_ok=True)
    with CaseLock(out_dir):
        case_path = out_dir / "case.db"
        fresh = not case_path.exists()
        if not fresh and not resume:
            raise ScanError(f"{out_dir} already holds a scan; pass --resume to continue it, or choose another --out")
        db = CaseDB(case_path)
        try:
            _start_or_check(db, case, roots, settings, fresh)
            run_id = db.start_run(started, command)
            with engine.begin() as conn:
                hash_sets = sets_in_use(conn)
                audit.append(conn, "scan.start", {"case": case, "out": str(out_dir), "sources": roots,
                                                  "resume": not fresh})
            listings = [Listing(root) for root in roots]
            tasks = _enumerate(db, roots, listings, progress)
            if settings.key_file:
                from hashwarden.evidence.layers import Keys  # disk images' readers: loaded when a scan needs them

                Keys.read(settings.key_file)  # a malformed key file is refused before anything is read
                settings = dataclasses.replace(settings, key_file=os.path.abspath(settings.key_file))  # for workers
            known = open_known_filter(engine) if settings.known_filter else None
            options = HashOptions(compute_pdq=settings.compute_pdq, dihedral=True,
                                  max_image_pixels=settings.max_image_pixels,
                                  vpdq_seconds_per_hash=settings.vpdq_seconds_per_hash,
                                  known_filter=str(known.directory) if known else None)
            jobs = [(source, item, options, settings) for source, item in tasks]
            results = parallel_stream(scan_file, jobs, settings.worker_count(), pool=pool, weight=_file_size)
            # the matcher `hashwarden match` and the service use; the store was checked above, before any write
            from hashwarden.scan.match_hashes import matcher_for

            matcher = matcher_for(engine, dataclasses.replace(settings, allow_empty=True), known=known)
            hashed = _record(db, matcher, tasks, results, run_id, progress)
            for index, listing in enumerate(listings):
                listing.scan_rows(db, index)
            _verify_after(roots, listings, settings.worker_count(), progress, settings.verify_after, pool)
            if settings.verify_ewf:
                _verify_ewf_images(db, listings, settings.worker_count(), progress, pool)
            db.finish_run(run_id, utc_now())
            db.commit()
            from hashwarden.leads.across import add_store_leads
            from hashwarden.report import build_report, write_reports

            report = build_report(case, roots, db.items(), db.skipped())
            with engine.connect() as conn:  # series and other cases' items, as the store holds them now
                add_store_leads(conn, report["items"])
            summary = report["summary"]
            custody = custody_summary(db.runs(), listings, hash_sets, settings.verify_after)
            files = write_reports(out_dir, report, custody)
            report_sha256 = hashlib.sha256(files["report.json"].read_bytes()).hexdigest()
            with engine.begin() as conn:
                audit.append(conn, "scan", {"case": case, "out": str(out_dir), "report_sha256": report_sha256,
                                            "summary": summary})
                audit_count, audit_head = audit.head(conn)
            files["custody.json"] = write_custody(
                out_dir, db, case=case, command=command, started=started, finished=utc_now(), listings=listings,
                hash_sets=hash_sets, report_sha256=report_sha256, settings=settings,
                audit_head={"rows": audit_count, "head_hash": audit_head},
            )
            return ScanResult(out_dir, summary, hashed, files)
        finally:
            db.close()


def _check_sources(sources: list[str], out_dir: Path) -> list[str]:
    if not sources:
        raise ScanError("no source given")
    if out_dir.exists() and not out_dir.is_dir():
        raise ScanError(f"--out {out_dir} is a file, not a case directory")
    roots = []
    out_real = os.path.realpath(out_dir)
    for source in sources:
        if not os.path.lexists(source):
            raise ScanError(f"source not found: {source}")
        real = os.path.realpath(source)
        if os.path.isdir(real) and (out_real == real or out_real.startswith(real.rstrip(os.sep) + os.sep)):
            raise ScanError(f"--out {out_dir} is inside the source {source}: evidence is never written to")
        if os.path.abspath(source) not in roots:  # a source given twice is scanned once
            roots.append(os.path.abspath(source))
    return roots


def _start_or_check(db: CaseDB, case: str, roots: list[str], settings: ScanSettings, fresh: bool) -> None:
    recorded = db.get_meta("sources")
    matching = {"pdq_threshold": settings.pdq_threshold, "pdq_min_quality": settings.pdq_min_quality,
                "pdq": settings.compute_pdq, "carve": settings.carve}
    if recorded is None:
        db.set_meta("case", case)
        db.set_meta("sources", roots)
        db.set_meta("matching", matching)
        for index, root in enumerate(roots):
            db.add_source(index, root)
        db.commit()
        return
    if recorded != roots or db.get_meta("case") != case:
        raise ScanError(f"--resume must name the same case and sources as the scan it continues: {recorded}")
    if db.get_meta("matching") != matching:
        raise ScanError(f"--resume must use the same matching settings as the scan it continues: {db.get_meta('matching')}")


def _enumerate(
    db: CaseDB, roots: list[str], listings: list[Listing], progress: Progress | None
) -> list[tuple[int, FolderItem]]:
    """Walk every source once: record skipped entries, note each file's metadata, and return the files left to
    scan (what a file contains is opened by the worker that reads it, in the same pass).

    Largest files first, so the last minutes of a scan are not one worker decoding a huge file while the others
    idle. A file whose row is recorded is done with everything inside it (its row is written last).
    """
    done = db.recorded_keys()
    if progress:
        progress.phase("listing evidence", None)
    tasks: list[tuple[int, FolderItem]] = []
    for index, root in enumerate(roots):
        try:
            for entry in FolderSource(root).iter_entries():
                if isinstance(entry, Skipped):
                    if (index, entry.key) not in done:
                        db.add_skipped(index, entry.key, entry.path, entry.reason)
                    continue
                listings[index].note_before(entry)
                if progress:
                    progress.advance()
                if (index, entry.key) not in done:
                    tasks.append((index, entry))
        except EvidenceReadError as exc:
            db.add_skipped(index, b"", root, f"source unreadable: {exc}")
    db.commit()
    tasks.sort(key=lambda task: -task[1].size)
    return tasks


def _record(
    db: CaseDB,
    matcher: Matcher,
    tasks: list[tuple[int, FolderItem]],
    results: Iterator[tuple[int, Message | WorkerDied]],
    run_id: int,
    progress: Progress | None,
) -> int:
    """Match and record every row the workers send (`results`: task index and message), committing in batches."""
    from hashwarden.scan.matcher import item_status

    if progress:
        progress.phase("hashing", len(tasks))
    pending = 0
    last_commit = time.monotonic()
    for index, message in results:
        source, item = tasks[index]
        if isinstance(message, WorkerDied):
            kind, payload = "item", {"source": source, "key": item.key, "path": item.path, "size": item.size,
                                     "media": "other", "error": f"not fully read: {message}"}
        else:
            kind, payload = message
        if kind == "skipped":
            key, path, reason = payload
            db.add_skipped(source, key, path, reason)
            continue
        row = payload
        row["matches"] = matcher.match(row)
        row["status"] = item_status(row["matches"], row.get("error"))
        row["matches"] = _json(row["matches"])
        row["pdq_dihedral"] = _json(row["pdq_dihedral"]) if row.get("pdq_dihedral") else None
        row["extra"] = _json(row["extra"]) if row.get("extra") else None
        db.add_item(row)
        pending += 1
        if progress and row["key"] == item.key:
            progress.advance()
        if pending >= COMMIT_EVERY_ITEMS or time.monotonic() - last_commit > COMMIT_EVERY_SECONDS:
            db.count_hashed(run_id, pending)
            db.commit()
            pending, last_commit = 0, time.monotonic()
    db.count_hashed(run_id, pending)
    db.commit()
    return len(tasks)


def _verify_after(
    roots: list[str], listings: list[Listing], workers: int, progress: Progress | None, reread: bool = True,
    pool: WorkerPool | None = None,
) -> None:
    """Walk the metadata again and, with `reread`, read every file again (SHA-256 only): the custody 'after'
    listings. The metadata walk always runs: with --no-verify-after it is all custody compares (without it, every
    file looked changed)."""
    for index, root in enumerate(roots):
        for entry in _safe_entries(root):
            if isinstance(entry, FolderItem):
                listings[index].note_after(entry)
    if not reread:
        return
    items = [(index, item) for index, listing in enumerate(listings) for item in listing.items.values()]
    if progress:
        progress.phase("verifying (re-reading evidence)", len(items))
    for source, key, size, sha256 in parallel_map(sha256_item, items, workers, pool=pool, weight=_file_size):
        listings[source].reread(key, size, sha256)
        if progress:
            progress.advance()


def _verify_ewf_images(db: CaseDB, listings: list[Listing], workers: int, progress: Progress | None,
                       pool: WorkerPool | None = None) -> None:
    """Check every E01/Ex01 file of the sources against the digests stored in it.

    The full result goes to custody.json; the report item of the image gets `verified` and its damaged chunks, so
    an examiner reading the report sees which media offsets (and so which files) cannot be trusted.
    """
    from hashwarden.evidence.ewf_verify import verify_ewf

    images = [(row["source"], row["key"], listings[row["source"]].items[row["key"]]) for row in db.items()
              if row["format"] in ("ewf", "ewf2") and row["key"] in listings[row["source"]].items]
    images = [image for image in images if _first_segment(image[2])]
    paths = [os.fsdecode(os.path.join(item.root, *item.parts)) for _, _, item in images]
    if progress:
        progress.phase("verifying E01 images", len(paths))
    for (source, key, item), result in zip(images, parallel_map(verify_ewf, paths, workers, ordered=True, pool=pool)):
        listings[source].ewf_verification.append({"item": item.path, **result.to_json()})
        db.merge_extra(source, key, {"ewf_verification": {
            "verified": result.verified, "error": result.error, "chunk_errors": result.chunk_errors}})
        if progress:
            progress.advance()


def _first_segment(item: FolderItem) -> bool:
    """Whether an EWF file is the first segment of its image (the others are verified through it)."""
    from hashwarden.evidence.disk_image import ewf_segment

    try:
        with item.open() as fp:
            return ewf_segment(fp.read(64)) in (None, 1)
    except EvidenceReadError:
        return True


def _safe_entries(root: str) -> Iterator[FolderItem | Skipped]:
    try:
        yield from FolderSource(root).iter_entries()
    except EvidenceReadError:
        return


def _file_size(task: tuple[Any, ...]) -> int:
    """A worker's task weighed by its file's size (the task's second member): how jobs are handed out."""
    return task[1].size


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
