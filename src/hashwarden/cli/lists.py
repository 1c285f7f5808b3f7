"""`hashwarden import ...` and `export ...`: hash lists in and out of sets, one command per format."""

from __future__ import annotations

import contextlib
import enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from hashwarden.cli.common import import_app, export_app, out, err, DbOption, engine_for, show_progress, RichProgress


def _import(file: Path, set_name: str, fmt: str, db: str | None, kind: str | None = None,
            scheme: str | None = None, options: dict | None = None) -> None:
    from hashwarden.formats.exchange import import_file

    engine = engine_for(db)
    if show_progress(False) and file.is_file():
        with RichProgress() as progress:
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


OptionalSetOption = Annotated[Optional[str], typer.Option(
    "--set", help="The hash set to add to (created when missing); not with --as-votes.")]
AsVotesOption = Annotated[bool, typer.Option(
    "--as-votes", help="A viewer's graded export: each categorised record becomes a vote of --reviewer, --agency "
                       "(grading/imported.py), not an entry of a set.")]
ReviewerOption = Annotated[Optional[str], typer.Option(
    "--reviewer", help="With --as-votes: who graded (default: the examiner, $HASHWARDEN_EXAMINER, else the OS "
                       "user).")]
AgencyOption = Annotated[str, typer.Option("--agency", help="With --as-votes: the reviewer's agency.")]


def _import_or_vote(file: Path, fmt: str, set_name: str | None, as_votes: bool, reviewer: str | None, agency: str,
                    db: str | None, kind: str | None, scheme: str | None, options: dict | None = None) -> None:
    """`--set S`: an import into the set; `--as-votes`: the records' categories as votes; exactly one of them."""
    if as_votes == (set_name is not None):
        raise typer.BadParameter("give exactly one of --set and --as-votes")
    if not as_votes:
        _import(file, set_name, fmt, db, kind, scheme, options)
        return
    from hashwarden.grading.imported import import_votes
    from hashwarden.grading.votes import default_reviewer

    done = import_votes(engine_for(db), fmt, file, reviewer or default_reviewer(), agency, scheme, options)
    out.print(f"recorded {len(done.votes):,} votes from {escape(str(file))} "
              f"({done.uncategorised:,} records without a category left out)")


@import_app.command("vics")
def import_vics(file: Path, set_name: OptionalSetOption = None, kind: KindOption = None, scheme: SchemeOption = None,
                as_votes: AsVotesOption = False, reviewer: ReviewerOption = None, agency: AgencyOption = "",
                db: DbOption = None) -> None:
    """Import a Project VIC / CAID VICS JSON file (1.x or 2.0, #Media or #Cases), streamed; Miniatures dropped.
    With --as-votes, a graded case's categories become votes instead."""
    _import_or_vote(file, "vics", set_name, as_votes, reviewer, agency, db, kind, scheme,
                    options={"scheme": scheme} if scheme else None)


@import_app.command("icse")
def import_icse(file: Path, set_name: OptionalSetOption = None, kind: KindOption = None, scheme: SchemeOption = None,
                as_votes: AsVotesOption = False, reviewer: ReviewerOption = None, agency: AgencyOption = "",
                db: DbOption = None) -> None:
    """Import an INTERPOL ICSE CSV export (`;`-separated, Y/N flags; PhotoDNA kept opaque). With --as-votes (and
    --scheme), its categorised records become votes instead."""
    _import_or_vote(file, "icse", set_name, as_votes, reviewer, agency, db, kind, scheme)


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
    from hashwarden.formats.exchange import export_set
    from hashwarden.report.vics_cases import export_case

    if (set_name is None) == (case_dir is None):
        raise typer.BadParameter("give exactly one of --set and --case")
    options = {"version": version.value, "region": region.value if region else None}
    if case_dir is not None:
        options["region"] = options["region"] or VicsRegion.default.value
        count = export_case(engine_for(db, create=False), case_dir, out_file, **options)
    else:
        with (RichProgress() if show_progress(False) else contextlib.nullcontext()) as progress:
            count = export_set(engine_for(db, create=False), "vics", set_name, out_file, progress=progress,
                               shape=shape.value, **options)
    _exported(count, out_file)


def _exported(count: int, out_file: Path) -> None:
    """The closing line, on stderr when the export itself went to standard output."""
    (err if str(out_file) == "-" else out).print(f"exported {count:,} entries to {escape(str(out_file))}")


def _export_list(fmt: str, set_name: str, out_file: Path, db: str | None, **options: object) -> None:
    from hashwarden.formats.exchange import export_set

    with (RichProgress() if show_progress(False) else contextlib.nullcontext()) as progress:
        count = export_set(engine_for(db, create=False), fmt, set_name, out_file, progress=progress, **options)
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


@export_app.command("hashes")
def export_hashes(out_file: OutOption, set_name: Annotated[str, typer.Option("--set")], db: DbOption = None) -> None:
    """Export a set as JSON lines (`hashwarden hash`'s, read back by `import hashes`), videos with their vPDQ frames."""
    _export_list("hashes", set_name, out_file, db)
