"""`hashwarden grade ...` (one reviewer's vote on a media item) and `hashwarden grading status` (the grades the
consensus rule gives).

`grading status --json` prints one JSON object per media and scheme (a fixed contract: scripts read it):
`{"md5"?, "sha1"?, "sha256"?, "pdq"?, "media", "state", "category", "scheme", "votes", "reviewers", "rule",
"sides"? (disputed), "attributes"}`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from hashwarden.cli.common import app, grading_app, out, DbOption, engine_for
from hashwarden.config import DEFAULT_GRADING_SCHEME

_ATTRIBUTE_HELP = "; 'unknown' (the default) when it cannot be told."


@app.command("grade")
def grade(
    hash_value: Annotated[Optional[str], typer.Argument(
        metavar="[HASH]", help="md5, sha1 or sha256 of the media, the kind by length (a PDQ hash: --pdq).")] = None,
    category: Annotated[str, typer.Option("--category", help="The category code under the scheme (A, B, C; 0-5).")]
    = ...,
    scheme: Annotated[str, typer.Option("--scheme", help="Category scheme of the profile.")] = DEFAULT_GRADING_SCHEME,
    md5: Annotated[Optional[str], typer.Option("--md5", help="MD5 of the media.")] = None,
    sha1: Annotated[Optional[str], typer.Option("--sha1", help="SHA-1 of the media.")] = None,
    sha256: Annotated[Optional[str], typer.Option("--sha256", help="SHA-256 of the media.")] = None,
    pdq: Annotated[Optional[str], typer.Option("--pdq", help="PDQ hash of the media (64 hex).")] = None,
    case: Annotated[Optional[Path], typer.Option(
        "--case", help="A scan's case directory: the media is the item --item of its report.json.")] = None,
    item: Annotated[Optional[str], typer.Option("--item", help="The item's path as report.json gives it.")] = None,
    age_band: Annotated[str, typer.Option(
        "--age-band", help="0-2, 3-6, 7-10, 11-13, 14-15, 16-17, 18-20, adult" + _ATTRIBUTE_HELP)] = "unknown",
    sex: Annotated[str, typer.Option("--sex", help="female, male, both" + _ATTRIBUTE_HELP)] = "unknown",
    self_generated: Annotated[str, typer.Option("--self-generated", help="yes, no" + _ATTRIBUTE_HELP)] = "unknown",
    capture_device: Annotated[str, typer.Option(
        "--capture-device", help="webcam, phone, camera" + _ATTRIBUTE_HELP)] = "unknown",
    redistributed: Annotated[str, typer.Option(
        "--redistributed", help="yes (harvested from where it was first posted), no" + _ATTRIBUTE_HELP)] = "unknown",
    reviewer: Annotated[Optional[str], typer.Option(
        "--reviewer", help="Who decided (default: the examiner, $HASHWARDEN_EXAMINER, else the OS user).")] = None,
    agency: Annotated[str, typer.Option("--agency", help="The reviewer's agency.")] = "",
    note: Annotated[Optional[str], typer.Option("--note", help="A remark kept with the vote.")] = None,
    db: DbOption = None,
) -> None:
    """Record one reviewer's vote on a media item, named by its hashes (audited); it replaces the reviewer's
    earlier vote on that media, which is kept as history. Prints the media's grade afterwards.

    Example: hashwarden grade d41d8cd98f00b204e9800998ecf8427e --category A --age-band 14-15 --sex female
    """
    from hashwarden.errors import GradingError
    from hashwarden.grading.consensus import grades_of
    from hashwarden.grading.votes import cast_votes, default_reviewer, given_hashes, hashes_of_case_item
    from hashwarden.store.votes import Vote, media_votes

    hashes = given_hashes(hash_value, md5=md5, sha1=sha1, sha256=sha256, pdq=pdq)
    if (case is None) != (item is None):
        raise GradingError("--case and --item go together: the case directory and the item's path in it",
                           field="case" if case is None else "item")
    if case is not None:
        for kind, value in hashes_of_case_item(case, item).items():
            if kind in hashes and hashes[kind].strip().lower() != value:
                raise GradingError(f"the item's {kind} in report.json is {value}, not the one given", field=kind)
            hashes[kind] = value
    vote = Vote(scheme=scheme, category=category, reviewer=reviewer or default_reviewer(), agency=agency,
                age_band=age_band, sex=sex, self_generated=self_generated, capture_device=capture_device,
                redistributed=redistributed, note=note, source="cli", **hashes)
    with engine_for(db).begin() as conn:
        stored, = cast_votes(conn, [vote])
        history = media_votes(conn, stored.media)
    replaced = next((v.id for v in history if v.superseded_by == stored.id), None)
    out.print(f"vote {stored.id} recorded on {stored.media}" + (f" (replaces vote {replaced})" if replaced else ""),
              markup=False, highlight=False)
    for graded in grades_of(stored.media, history):
        out.print(f"{graded.scheme}: {graded.state}, category {graded.category.value or '-'}, "
                  f"{len(graded.votes)} current vote(s)", markup=False, highlight=False)


@grading_app.command("status")
def grading_status(
    disputed: Annotated[bool, typer.Option(
        "--disputed", help="Only grades whose category is disputed: the review queue (attributes' disputes are in "
                           "each grade's attributes).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per media and scheme: hashes, state, category, scheme, votes, rule ...")]
    = False,
    db: DbOption = None,
) -> None:
    """Every graded media's grade by the consensus rule: confirmed (3 votes by 3 reviewers agree, none disagrees),
    disputed (each side's votes listed), indicative (too few votes)."""
    from hashwarden.grading.consensus import DISPUTED, grades

    with engine_for(db, create=False).connect() as conn:
        found = [g for g in grades(conn) if not disputed or g.state == DISPUTED]
    if as_json:
        for graded in found:
            sys.stdout.write(json.dumps(graded.as_json()) + "\n")
        return
    table = Table("media", "scheme", "state", "category", "votes", "age band", "sex", "self-generated")
    for graded in found:
        category = graded.category.value or " / ".join(
            f"{value}: {len(votes)}" for value, votes in sorted(graded.category.sides.items()))
        table.add_row(*(escape(str(value)) for value in (
            graded.media, graded.scheme, graded.state, category, len(graded.votes),
            *(_attribute(graded, name) for name in ("age_band", "sex", "self_generated")))))
    out.print(table)


def _attribute(graded, name: str) -> str:  # noqa: ANN001 - grading.consensus.Grade
    value = graded.attributes[name]
    return value.value if value.value is not None else "disputed"


@grading_app.command("publish")
def grading_publish(
    set_name: Annotated[str, typer.Option("--set", help="The alert set to publish into (made when missing).")],
    scheme: Annotated[str, typer.Option("--scheme", help="The scheme whose grades are published.")],
    status: Annotated[str, typer.Option(
        "--status", help="confirmed: confirmed grades only; indicative: confirmed and indicative (disputed never).")]
    = "confirmed",
    db: DbOption = None,
) -> None:
    """Publish reconciled grades as the next version of an alert set (audited); with no change, no new version.

    Example: hashwarden grading publish --set graded-uk --scheme uk-sentencing
    """
    from hashwarden.grading.publish import publish

    with engine_for(db).begin() as conn:
        done = publish(conn, set_name, scheme, status)
    if not done.changed:
        out.print(f"set {escape(set_name)}: no change" + (f", version {done.version}" if done.version else
                  " (no grade to publish)") + f", {done.entries} entries", highlight=False)
        return
    out.print(f"set {escape(set_name)} version {done.version}: {done.added} added, {done.removed} removed, "
              f"{done.entries} entries", highlight=False)
