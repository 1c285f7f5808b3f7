"""The `hashwarden` command: thin Typer commands that parse, call one library function and render with Rich.

Only HashwardenError is caught (printed as `TypeName: message`, exit 1); usage errors exit 2; anything else is a
bug and shows its traceback.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hashwarden import __version__
from hashwarden.config import ENV_EXAMINER, PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY, ScanSettings, database_url
from hashwarden.errors import HashwardenError

app = typer.Typer(no_args_is_help=True)  # --install-completion / --show-completion for bash, zsh, fish
set_app = typer.Typer(no_args_is_help=True, help="Create and list hash sets.")
import_app = typer.Typer(no_args_is_help=True, help="Import hash lists into a set (all or nothing).")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
export_app = typer.Typer(no_args_is_help=True, help="Export a hash set (or a scan case) as a list file.")
app.add_typer(set_app, name="set")
app.add_typer(import_app, name="import")
app.add_typer(audit_app, name="audit")
app.add_typer(export_app, name="export")

# Data (set names, paths, categories) is never Rich markup or emoji: `escape` it, and no `:a:` becomes a picture.
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)


class ExitCode(enum.IntEnum):
    OK = 0
    FATAL = 1
    USAGE = 2


DbOption = Annotated[
    Optional[str],
    typer.Option("--db", help="Hash database: a path or SQLAlchemy URL (default $HASHWARDEN_DB or ./hashwarden.db)."),
]
_global_db: dict[str, str | None] = {"db": None}
SecondsPerHash = Annotated[float, typer.Option(
    "--seconds-per-hash", min=0.0, help="Videos: hash one frame per this many seconds (0 = every frame).")]
VideoQueryPercent = Annotated[float, typer.Option(
    "--vpdq-query-percent", min=0.0, max=100.0, help="Videos: share of the video's frames that must match a known one.")]
VideoComparedPercent = Annotated[float, typer.Option(
    "--vpdq-compared-percent", min=0.0, max=100.0, help="Videos: share of the known video's frames that must be matched.")]


def _engine(db: str | None, create: bool = True):  # noqa: ANN202 - sqlalchemy Engine, imported lazily
    """The hash database. Commands that only read or check pass `create=False`: a database that does not exist
    is then refused, never made (a mistyped --db must not turn into an empty database)."""
    from hashwarden.store import open_store

    return open_store(database_url(db or _global_db["db"]), create=create)


AllowEmpty = Annotated[bool, typer.Option(
    "--allow-empty", help="Go on when the database does not exist or holds no alert entry (every item would be "
                          "unknown): to hash and list evidence without matching.")]


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


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    db: DbOption = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug log on stderr (tracebacks of item errors).")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", help="Write the debug log to this file.")] = None,
    examiner: Annotated[Optional[str], typer.Option(
        "--examiner", help=f"Examiner named in the audit log (default ${ENV_EXAMINER}; without one, the OS user, "
                           "marked as such).")] = None,
) -> None:
    """hashwarden: scan seized media against a database of hashes of known abuse material."""
    from hashwarden.logs import configure_logging

    _global_db["db"] = db
    if examiner is not None:  # through the environment: the library and scan workers read config.examiner()
        os.environ[ENV_EXAMINER] = examiner
    if version:
        out.print(f"hashwarden {__version__}")
        raise typer.Exit()
    configure_logging(verbose, str(log_file) if log_file else None)
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(ExitCode.USAGE)


@app.command("hash")
def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (folders are walked); - reads paths from "
                                                     "standard input, one per line.")],
    dihedral: Annotated[bool, typer.Option("--dihedral", help="Also print the 8 dihedral PDQ hashes.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Processes (0 = one per core).")] = 0,
    for_set: Annotated[bool, typer.Option(
        "--for-set", help="Hashes meant for a hash set (`import hashes`): videos hashed at every frame, so trimmed "
        "copies are found.")] = False,
    seconds_per_hash: Annotated[Optional[float], typer.Option(
        "--seconds-per-hash", min=0.0, help="Videos: hash one frame per this many seconds (0 = every frame; "
        "default 1, or every frame with --for-set; given with --for-set, it wins).")] = None,
) -> None:
    """Hash files: one JSON object per file per line (md5, sha1, sha256, media, pdq, pdq_quality; for videos
    vpdq: [{frame, quality, pdq, timestamp}]).

    Example: hashwarden hash photos/ > hashes.jsonl
    Example: hashwarden hash --for-set known/ > known.jsonl && hashwarden import hashes known.jsonl --set local
    """
    from hashwarden.config import VPDQ_QUERY_SECONDS_PER_HASH
    from hashwarden.scan.hash_files import hash_for_set, hash_paths

    worker_count = ScanSettings(workers=workers).worker_count()
    names = [line.rstrip("\n") for line in sys.stdin if line.strip()] if [str(p) for p in paths] == ["-"] \
        else [str(p) for p in paths]
    problems = []

    def warn(message: str) -> None:
        problems.append(message)
        err.print(message, markup=False, highlight=False)

    with (_RichProgress() if _show_progress(False) else contextlib.nullcontext()) as progress:
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
    pdq_threshold: Annotated[int, typer.Option("--pdq-threshold", help="PDQ match distance (<=).")] = PDQ_MATCH_THRESHOLD,
    pdq_min_quality: Annotated[int, typer.Option("--pdq-min-quality", help="Minimum PDQ quality to match on.")] = PDQ_MIN_QUALITY,
    no_nsrl: Annotated[bool, typer.Option("--no-nsrl", help="Do not report files of ignorable sets (NSRL).")] = False,
    vpdq_query_percent: VideoQueryPercent = 80.0,
    vpdq_compared_percent: VideoComparedPercent = 0.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary.")] = False,
    allow_empty: AllowEmpty = False,
    db: DbOption = None,
) -> None:
    """Match hashes against every hash set: each line back with `status` and `matches`, as a scan reports them.

    PDQ hashes are matched in batches through the index (a batch join), for lists of millions of lines.
    Example: hashwarden hash upload/ | hashwarden match - -o matched.jsonl
    """
    from hashwarden.scan.known_files import open_known_filter
    from hashwarden.scan.match_hashes import match_lines
    from hashwarden.scan.matcher import Matcher, require_alert_entries

    if not 0 <= pdq_threshold <= 256:
        raise typer.BadParameter("must be between 0 and 256", param_hint="--pdq-threshold")
    engine = _engine(db, create=allow_empty)
    if not allow_empty:
        with engine.connect() as conn:
            require_alert_entries(conn, engine.url.render_as_string(hide_password=True))
    known = None if no_nsrl else open_known_filter(engine)
    matcher = Matcher.from_store(engine, pdq_threshold, pdq_min_quality, known,
                                 (vpdq_query_percent, vpdq_compared_percent))
    source = sys.stdin.buffer if str(hashes) == "-" else open(hashes, "rb")
    target = sys.stdout if output is None else open(output, "w", encoding="utf-8")
    try:
        if _show_progress(quiet):
            with _RichProgress() as progress:
                progress.phase("matching", None)
                counts = match_lines(matcher, source, str(hashes), target, progress.advance)
        else:
            counts = match_lines(matcher, source, str(hashes), target)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        if target is not sys.stdout:
            target.close()
    if not quiet:
        err.print(", ".join(f"{status}: {counts.get(status, 0):,}" for status in ("known", "ignorable", "unknown")))


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
    out.print(f"created hash set [bold]{escape(created.name)}[/] ({created.kind})")


@set_app.command("list")
def set_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per set, for scripts.")] = False,
    db: DbOption = None,
) -> None:
    """List hash sets with their entry counts."""
    from hashwarden.store import list_sets

    with _engine(db, create=False).connect() as conn:
        sets = list_sets(conn)
    if as_json:
        for s in sets:
            sys.stdout.write(json.dumps({"name": s.name, "kind": s.kind, "source": s.source,
                                         "category_scheme": s.category_scheme, "version": s.version,
                                         "description": s.description, "entries": s.entries}) + "\n")
        return
    table = Table("name", "kind", "source", "scheme", "version", "entries")
    for s in sets:
        table.add_row(*(escape(v) for v in (s.name, s.kind, s.source, s.category_scheme or "", s.version or "")),
                      f"{s.entries:,}")
    out.print(table)


@set_app.command("show")
def set_show(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
    db: DbOption = None,
) -> None:
    """Show one hash set: its fields, entry count and the imports that filled it."""
    from hashwarden.store.hashsets import describe_set

    with _engine(db, create=False).connect() as conn:
        shown = describe_set(conn, name)
    if as_json:
        sys.stdout.write(json.dumps(shown, sort_keys=True) + "\n")
        return
    for key in ("name", "kind", "source", "category_scheme", "version", "description", "entries"):
        out.print(f"{key}: {escape(str(shown[key]) if shown[key] is not None else '')}")
    for run in shown["imports"]:
        out.print(f"import {run['id']}: {escape(str(run['format']))} {escape(str(run['file']))} "
                  f"({run['added']:,} added) at {run['finished_at'] or run['started_at']}")


@set_app.command("rename")
def set_rename(name: str, new_name: str, db: DbOption = None) -> None:
    """Rename a hash set (audited; its recorded content moves with it)."""
    from hashwarden.store.hashsets import rename_set

    with _engine(db, create=False).begin() as conn:
        rename_set(conn, name, new_name)
    out.print(f"renamed hash set {escape(name)} to {escape(new_name)}")


@set_app.command("delete")
def set_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the set and all its entries are deleted.")] = False,
    db: DbOption = None,
) -> None:
    """Delete a hash set and all its entries (audited). Asks for --yes."""
    from hashwarden.store.hashsets import delete_set

    if not yes:
        raise typer.BadParameter("deleting a set removes all its entries: pass --yes to confirm", param_hint="--yes")
    with _engine(db, create=False).begin() as conn:
        removed = delete_set(conn, name)
    out.print(f"deleted hash set {escape(name)} and its {removed:,} entries")


def _import(file: Path, set_name: str, fmt: str, db: str | None, kind: str | None = None,
            scheme: str | None = None, options: dict | None = None) -> None:
    from hashwarden.formats.exchange import import_file

    engine = _engine(db)
    if _show_progress(False) and file.is_file():
        with _RichProgress() as progress:
            progress.phase(f"importing {file.name} (bytes)", file.stat().st_size)
            result, report = import_file(engine, fmt, file, set_name, kind=kind, scheme=scheme, options=options,
                                         progress=progress.advance)
    else:
        result, report = import_file(engine, fmt, file, set_name, kind=kind, scheme=scheme, options=options)
    created = report.meta.get("created_set")
    if created:
        scheme_text = f", category scheme {created['category_scheme']}" if created["category_scheme"] else ""
        out.print(f"created hash set {created['name']} ({created['kind']}{scheme_text}): it did not exist",
                  markup=False, highlight=False)
    out.print(f"imported {result.added:,} entries into [bold]{escape(set_name)}[/] from {escape(str(file))} "
              f"({result.rows:,} records read, {result.duplicates:,} already in the set)")
    if result.deleted or result.updated:
        out.print(f"delta applied: {result.deleted:,} entries deleted, {result.updated:,} updated")
    for field_name, count in sorted(report.dropped.items()):
        out.print(f"not stored: {escape(field_name)} x {count:,}")
    for warning in report.warnings[:20]:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    if len(report.warnings) > 20:
        err.print(f"... {len(report.warnings) - 20:,} more warnings (recorded with the import)")


SetOption = Annotated[str, typer.Option("--set", help="The hash set to add to (created when missing).")]
KindOption = Annotated[
    Optional[str], typer.Option("--kind", help="Kind of a set this import creates: alert or ignorable.")
]
SchemeOption = Annotated[Optional[str], typer.Option("--scheme", help="Category scheme (vics-us, vics-uk, nist-caid, ...).")]


# The list formats whose import takes no option of its own: one command each, the same parameters.
_PLAIN_IMPORTS = {
    "hashes": "Import JSON lines as written by `hashwarden hash` (extra keys: category, series, tags, comments).",
    "md5sum": "Import md5sum/sha1sum/sha256sum output (the digest type is told by its length).",
    "pdq": "Import a ThreatExchange PDQ list: one 64-hex hash per line, optionally `,quality` (further fields "
           "ignored).",
    "hashdeep": "Import hashdeep output (its `%%%%` header says which columns each row has).",
    "icse": "Import an INTERPOL ICSE CSV export (`;`-separated, Y/N flags; PhotoDNA kept opaque).",
}


def _add_plain_import(fmt: str, help_text: str) -> None:
    def command(file: Path, set_name: SetOption, kind: KindOption = None, scheme: SchemeOption = None,
                db: DbOption = None) -> None:
        _import(file, set_name, fmt, db, kind, scheme)

    command.__name__ = f"import_{fmt}"
    command.__doc__ = help_text
    import_app.command(fmt)(command)


for _fmt, _help in _PLAIN_IMPORTS.items():
    _add_plain_import(_fmt, _help)


@import_app.command("vics")
def import_vics(file: Path, set_name: SetOption, kind: KindOption = None, scheme: SchemeOption = None,
                db: DbOption = None) -> None:
    """Import a Project VIC / CAID VICS JSON file (1.x or 2.0, #Media or #Cases), streamed; Miniatures dropped."""
    _import(file, set_name, "vics", db, kind, scheme, options={"scheme": scheme} if scheme else None)


@import_app.command("nsrl")
def import_nsrl(file: Path, set_name: SetOption, kind: KindOption = None, scheme: SchemeOption = None,
                distinct: Annotated[bool, typer.Option(
                    "--distinct", help="RDSv3: read DISTINCT_HASH (hashes only, ~6x fewer rows, no names).")] = False,
                db: DbOption = None) -> None:
    """Import NIST NSRL (an ignorable set: the known-file filter): RDSv3 SQLite, an RDSv3 delta .sql (applied to
    the set), or RDSv2 NSRLFile.txt."""
    _import(file, set_name, "nsrl", db, kind, scheme, options={"distinct": True} if distinct else None)


class VicsVersion(str, enum.Enum):
    v2 = "2.0"
    v13 = "1.3"


class VicsRegion(str, enum.Enum):
    default = "Default"
    us = "US"
    uk = "UK"


class VicsShape(str, enum.Enum):
    media = "media"
    cases = "cases"


OutOption = Annotated[Path, typer.Option("-o", "--out", help="File to write (replaced atomically; - for standard output).")]
ExportSetOption = Annotated[Optional[str], typer.Option("--set", help="The hash set to export.")]


@export_app.command("vics")
def export_vics(
    out_file: OutOption,
    set_name: ExportSetOption = None,
    case_dir: Annotated[Optional[Path], typer.Option("--case", help="A scan's case directory (report.json).")] = None,
    version: Annotated[VicsVersion, typer.Option("--version")] = VicsVersion.v2,
    region: Annotated[Optional[VicsRegion], typer.Option(
        "--region", help="VICS 2.0 region (default: the region of the set's own category scheme).")] = None,
    shape: Annotated[VicsShape, typer.Option("--shape")] = VicsShape.media,
    db: DbOption = None,
) -> None:
    """Export a hash set, or a scan case (#Cases), as VICS JSON: hashes and metadata, never a Miniature."""
    from hashwarden.formats.exchange import export_case, export_set

    if (set_name is None) == (case_dir is None):
        raise typer.BadParameter("give exactly one of --set and --case")
    options = {"version": version.value, "region": region.value if region else None}
    if case_dir is not None:
        options["region"] = options["region"] or VicsRegion.default.value
        count = export_case(_engine(db, create=False), case_dir, out_file, **options)
    else:
        with (_RichProgress() if _show_progress(False) else contextlib.nullcontext()) as progress:
            count = export_set(_engine(db, create=False), "vics", set_name, out_file, progress=progress,
                               shape=shape.value, **options)
    _exported(count, out_file)


def _exported(count: int, out_file: Path) -> None:
    """The closing line, on stderr when the export itself went to standard output."""
    (err if str(out_file) == "-" else out).print(f"exported {count:,} entries to {escape(str(out_file))}")


def _export_list(fmt: str, set_name: str, out_file: Path, db: str | None, **options: object) -> None:
    from hashwarden.formats.exchange import export_set

    with (_RichProgress() if _show_progress(False) else contextlib.nullcontext()) as progress:
        count = export_set(_engine(db, create=False), fmt, set_name, out_file, progress=progress, **options)
    _exported(count, out_file)


@export_app.command("md5sum")
def export_md5sum(
    out_file: OutOption, set_name: Annotated[str, typer.Option("--set")],
    digest: Annotated[str, typer.Option("--digest", help="md5, sha1 or sha256.")] = "md5",
    db: DbOption = None,
) -> None:
    """Export a set as md5sum (or sha1sum/sha256sum) lines."""
    _export_list("md5sum", set_name, out_file, db, digest=digest)


@export_app.command("hashdeep")
def export_hashdeep(out_file: OutOption, set_name: Annotated[str, typer.Option("--set")], db: DbOption = None) -> None:
    """Export a set in hashdeep's format (size, md5, sha1, sha256, name)."""
    _export_list("hashdeep", set_name, out_file, db)


@export_app.command("pdq")
def export_pdq(out_file: OutOption, set_name: Annotated[str, typer.Option("--set")], db: DbOption = None) -> None:
    """Export a set's PDQ hashes as `hex,quality` lines (ThreatExchange PDQ list)."""
    _export_list("pdq", set_name, out_file, db)


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[Optional[Path], typer.Option(
        "--checkpoint", help="A signed checkpoint (`audit checkpoint`): also prove nothing before it changed.")] = None,
    public_key: Annotated[Optional[Path], typer.Option(
        "--public-key", help="The key the checkpoint must be signed by (KEY.pub from `audit keygen`).")] = None,
    db: DbOption = None,
) -> None:
    """Recompute the audit chain and every set's content digest; exit 1 if a row or an entry was changed."""
    from hashwarden.store import audit, checkpoint as checkpoints

    with _engine(db, create=False).connect() as conn:
        if checkpoint is None:
            result, signer = audit.verify(conn), None
        else:
            result, signer = checkpoints.verify_with(conn, checkpoint, public_key)
    _print_audit(result, signer, trusted=public_key is not None)


def _print_audit(result, signer: str | None, trusted: bool) -> None:  # noqa: ANN001 - store.audit.AuditVerification
    for note in result.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    if result.ok:
        out.print(f"audit log intact: {result.rows} rows, head {result.head_hash}; entries of {result.sets} set(s) match")
        if signer:
            out.print(f"checkpoint verified, signed by key {signer}" + ("" if trusted else
                      " (no --public-key given: compare this fingerprint with the examiner's key)"))
        return
    for problem in result.problems:
        err.print(f"[red]{escape(problem)}[/]", highlight=False)
    err.print(f"AuditError: audit log does not verify ({len(result.problems)} problems)")
    raise typer.Exit(ExitCode.FATAL)


@audit_app.command("checkpoint")
def audit_checkpoint(
    key: Annotated[Path, typer.Option("--key", help="Ed25519 private key (PEM) kept outside the database.")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Checkpoint file to write (default: standard output).")] = None,
    db: DbOption = None,
) -> None:
    """Verify the log, then sign its head and the sets' digests; keep the file outside the database."""
    from hashwarden.store import checkpoint as checkpoints

    with _engine(db, create=False).connect() as conn:
        document = checkpoints.create(conn, checkpoints.load_private(key))
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    statement = document["statement"]
    err.print(f"checkpoint of {statement['rows']} rows (head {statement['head']}) signed by key "
              f"{document['fingerprint']}: {output}", highlight=False)


@audit_app.command("keygen")
def audit_keygen(
    out_file: Annotated[Path, typer.Option("--out", help="Private key file to create (mode 0600; KEY.pub beside it).")],
) -> None:
    """Make an Ed25519 key pair for `audit checkpoint`; keep the private key off the database's machine."""
    from hashwarden.store import checkpoint as checkpoints

    out.print(f"key {out_file} (public: {out_file}.pub), fingerprint {checkpoints.keygen(out_file)}", highlight=False)


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
    no_nsrl: Annotated[
        bool, typer.Option("--no-nsrl", help="No known-file filter: files in ignorable sets (NSRL) are decoded for PDQ like any other.")
    ] = False,
    seconds_per_hash: SecondsPerHash = 1.0,
    vpdq_query_percent: VideoQueryPercent = 80.0,
    vpdq_compared_percent: VideoComparedPercent = 0.0,
    max_expanded_bytes: Annotated[int, typer.Option(
        "--max-expanded-bytes", min=0,
        help="Bytes one file's contents (nested containers included) may expand to (0 = max(4 GiB, 100 x its size)).",
    )] = 0,
    max_members: Annotated[int, typer.Option(
        "--max-members", min=1, help="Members (at every nesting level) one file may hold before expansion stops.",
    )] = 10_000_000,
    key_file: Annotated[Optional[Path], typer.Option(
        "--key-file", help="Passwords and recovery keys for BitLocker, LUKS, APFS and encrypted QCOW volumes, one "
                           "per line: password:..., recovery:..., keyfile:PATH.",
    )] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    allow_empty: AllowEmpty = False,
    db: DbOption = None,
) -> None:
    """Scan seized folders against every hash set and write the case report.

    Example: hashwarden scan /mnt/evidence/usb1 --case 2026-0042 --out cases/2026-0042
    """
    from hashwarden.scan import run_scan

    if not 0 <= pdq_threshold <= 256:
        raise typer.BadParameter("must be between 0 and 256", param_hint="--pdq-threshold")
    if not case.strip():
        raise typer.BadParameter("a case name or number is required (custody.json and the report carry it)",
                                 param_hint="--case")
    if len({os.path.abspath(source) for source in sources}) < len(sources):
        err.print("warning: a source was given more than once; it is scanned once", markup=False)
    settings = ScanSettings(
        pdq_threshold=pdq_threshold, pdq_min_quality=pdq_min_quality, workers=workers, compute_pdq=not no_pdq,
        carve=carve, verify_ewf=verify, known_filter=not no_nsrl, vpdq_seconds_per_hash=seconds_per_hash,
        vpdq_query_percent=vpdq_query_percent, vpdq_compared_percent=vpdq_compared_percent,
        max_expanded_bytes=max_expanded_bytes, max_members=max_members,
        key_file=str(key_file) if key_file else None, allow_empty=allow_empty,
    )
    engine = _engine(db, create=allow_empty)
    kwargs = dict(resume=resume, command=sys.argv, verify_after=not no_verify_after)
    try:
        if _show_progress(quiet):
            with _RichProgress() as progress:
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
