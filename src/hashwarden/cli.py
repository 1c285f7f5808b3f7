"""The `hashwarden` command: thin Typer commands that parse, call one library function and render with Rich.

Only HashwardenError is caught (printed as `TypeName: message`, exit 1); usage errors exit 2; anything else is a
bug and shows its traceback.
"""

from __future__ import annotations

import enum
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hashwarden import __version__
from hashwarden.config import PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY, ScanSettings, database_url
from hashwarden.errors import FormatError, HashwardenError

app = typer.Typer(add_completion=False, no_args_is_help=True)
set_app = typer.Typer(no_args_is_help=True, help="Create and list hash sets.")
import_app = typer.Typer(no_args_is_help=True, help="Import hash lists into a set (all or nothing).")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(set_app, name="set")
app.add_typer(import_app, name="import")
app.add_typer(audit_app, name="audit")

out = Console()
err = Console(stderr=True)


class ExitCode(enum.IntEnum):
    OK = 0
    FATAL = 1
    USAGE = 2


DbOption = Annotated[
    Optional[str],
    typer.Option("--db", help="Hash database: a path or SQLAlchemy URL (default $HASHWARDEN_DB or ./hashwarden.db)."),
]
_global_db: dict[str, str | None] = {"db": None}


def _engine(db: str | None):  # noqa: ANN202 - sqlalchemy Engine, imported lazily
    from hashwarden.store import open_store

    return open_store(database_url(db or _global_db["db"]))


def _show_progress(quiet: bool) -> bool:
    return not quiet and err.is_terminal and not os.environ.get("CI")


class _RichProgress:
    """Rich progress bar with items/s and ETA, on stderr."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[progress.data.speed]{task.fields[rate]}"),
            TimeRemainingColumn(), console=err, transient=False,
        )
        self._task = None

    def __enter__(self) -> "_RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def phase(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=True)
        self._task = self._progress.add_task(description, total=total, rate="")

    def advance(self, count: int = 1) -> None:
        self._progress.advance(self._task, count)
        speed = self._progress.tasks[-1].speed
        self._progress.update(self._task, rate=f"{speed:,.1f} items/s" if speed else "")


@app.callback()
def _root(
    db: DbOption = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """hashwarden: scan seized media against a database of hashes of known abuse material."""
    _global_db["db"] = db
    if version:
        out.print(f"hashwarden {__version__}")
        raise typer.Exit()


@app.command("hash")
def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (folders are walked).")],
    dihedral: Annotated[bool, typer.Option("--dihedral", help="Also print the 8 dihedral PDQ hashes.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Processes (0 = one per core).")] = 0,
) -> None:
    """Hash files: one JSON object per file per line (md5, sha1, sha256, media, pdq, pdq_quality).

    Example: hashwarden hash photos/ > hashes.jsonl
    """
    from hashwarden.scan.hash_files import hash_paths

    worker_count = ScanSettings(workers=workers).worker_count()
    for record in hash_paths([str(p) for p in paths], dihedral=dihedral, workers=worker_count, warn=err.print):
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


@set_app.command("create")
def set_create(
    name: str,
    kind: Annotated[str, typer.Option("--kind", help="alert (known abuse material) or ignorable (known-benign).")],
    source: Annotated[str, typer.Option("--source", help="Where the list comes from (CAID, IWF, NCMEC, ...).")] = "local",
    scheme: Annotated[Optional[str], typer.Option("--scheme", help="Category scheme of its entries.")] = None,
    version: Annotated[Optional[str], typer.Option("--version", help="The list's version.")] = None,
    description: Annotated[Optional[str], typer.Option("--description")] = None,
    db: DbOption = None,
) -> None:
    """Create a hash set. Example: hashwarden set create caid-2026 --kind alert --source CAID --scheme uk-sentencing"""
    from hashwarden.store import create_set

    with _engine(db).begin() as conn:
        created = create_set(conn, name, kind, source, scheme, version, description)
    out.print(f"created hash set [bold]{created.name}[/] ({created.kind})")


@set_app.command("list")
def set_list(db: DbOption = None) -> None:
    """List hash sets with their entry counts."""
    from hashwarden.store import list_sets

    with _engine(db).connect() as conn:
        sets = list_sets(conn)
    table = Table("name", "kind", "source", "scheme", "version", "entries")
    for s in sets:
        table.add_row(s.name, s.kind, s.source, s.category_scheme or "", s.version or "", f"{s.entries:,}")
    out.print(table)


def _import(file: Path, set_name: str, fmt: str, db: str | None) -> None:
    from hashwarden.formats import jsonl, md5sum, pdqlist
    from hashwarden.store import import_entries

    reader = {"hashes": jsonl.read, "md5sum": md5sum.read, "pdq": pdqlist.read}[fmt]
    engine = _engine(db)
    try:
        fp = open(file, "rb")
    except OSError as exc:
        raise FormatError(f"cannot read ({exc.strerror})", str(file)) from exc
    with fp:
        count = import_entries(engine, set_name, reader(fp, str(file)), {"file": str(file), "format": fmt})
    out.print(f"imported {count:,} entries into [bold]{set_name}[/] from {file}")


SetOption = Annotated[str, typer.Option("--set", help="The hash set to add to.")]


@import_app.command("hashes")
def import_hashes(file: Path, set_name: SetOption, db: DbOption = None) -> None:
    """Import JSON lines as written by `hashwarden hash` (extra keys: category, series, tags, comments)."""
    _import(file, set_name, "hashes", db)


@import_app.command("md5sum")
def import_md5sum(file: Path, set_name: SetOption, db: DbOption = None) -> None:
    """Import md5sum/sha1sum/sha256sum output (the digest type is told by its length)."""
    _import(file, set_name, "md5sum", db)


@import_app.command("pdq")
def import_pdq(file: Path, set_name: SetOption, db: DbOption = None) -> None:
    """Import a PDQ list: one 64-hex hash per line, optionally `,quality` (further fields ignored)."""
    _import(file, set_name, "pdq", db)


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Recompute the audit chain; exit 1 if any row was edited or removed."""
    from hashwarden.store import audit

    with _engine(db).connect() as conn:
        result = audit.verify(conn)
    if result.ok:
        out.print(f"audit log intact: {result.rows} rows, head {result.head_hash}")
        return
    for problem in result.problems:
        err.print(f"[red]{problem}[/]")
    err.print(f"AuditError: audit log does not verify ({len(result.problems)} problems)")
    raise typer.Exit(ExitCode.FATAL)


@app.command("scan")
def scan_command(
    sources: Annotated[list[str], typer.Argument(help="Folders or files to scan (read-only).")],
    case: Annotated[str, typer.Option("--case", help="Case name or number.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Case directory: case.db, report.json/html, custody.json.")],
    workers: Annotated[int, typer.Option("--workers", help="Hashing processes (0 = one per core).")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted scan in --out.")] = False,
    pdq_threshold: Annotated[int, typer.Option("--pdq-threshold", help="PDQ match distance (<=).")] = PDQ_MATCH_THRESHOLD,
    pdq_min_quality: Annotated[int, typer.Option("--pdq-min-quality", help="Minimum PDQ quality to match on.")] = PDQ_MIN_QUALITY,
    no_pdq: Annotated[bool, typer.Option("--no-pdq", help="Digests only: do not decode images.")] = False,
    carve: Annotated[
        bool, typer.Option("--carve", help="Also carve media (JPEG, PNG, GIF, WebP, MP4/MOV) from unallocated space.")
    ] = False,
    no_verify_after: Annotated[
        bool, typer.Option("--no-verify-after", help="Skip re-reading the evidence for the custody 'after' listing.")
    ] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Verify E01 images against their stored MD5/SHA-1 (like ewfverify).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    db: DbOption = None,
) -> None:
    """Scan seized folders against every hash set and write the case report.

    Example: hashwarden scan /mnt/evidence/usb1 --case 2026-0042 --out cases/2026-0042
    """
    from hashwarden.scan import run_scan

    if not 0 <= pdq_threshold <= 256:
        raise typer.BadParameter("must be between 0 and 256", param_hint="--pdq-threshold")
    settings = ScanSettings(
        pdq_threshold=pdq_threshold, pdq_min_quality=pdq_min_quality, workers=workers, compute_pdq=not no_pdq,
        carve=carve, verify_ewf=verify,
    )
    engine = _engine(db)
    kwargs = dict(resume=resume, command=sys.argv, verify_after=not no_verify_after)
    if _show_progress(quiet):
        with _RichProgress() as progress:
            result = run_scan(sources, case, out_dir, engine, settings, progress=progress, **kwargs)
    else:
        result = run_scan(sources, case, out_dir, engine, settings, **kwargs)
    if not quiet:
        print_summary(result.summary, result.files)


def print_summary(summary: dict, files: dict) -> None:
    """The Rich summary table a scan ends with."""
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
        out.print(f"  known in category {key}: {count:,}")
    for name in ("report.html", "report.json", "custody.json"):
        if name in files:
            out.print(f"{name}: {files[name]}")


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to build the demo (recreated).")] = Path("demo-output"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Build benign synthetic images, a hash set and a 'seized' folder, scan it, and show the summary."""
    from hashwarden.demo.run import run_demo

    result = run_demo(out_dir, progress=_RichProgress if _show_progress(quiet) else None, console=out)
    if not quiet:
        print_summary(result.summary, result.files)


def main() -> None:
    """Console-script entry point: usage errors exit 2 (Click's standalone mode), HashwardenError exits 1."""
    try:
        app()
    except HashwardenError as exc:
        err.print(f"{type(exc).__name__}: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(ExitCode.FATAL)
