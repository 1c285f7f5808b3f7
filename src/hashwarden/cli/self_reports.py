"""`hashwarden self-report list|show|confirm|reject`: the reports young people sent from the self-hash page, and an
analyst's review of them (grading/self_reports.py), as the service's `/v1/self-reports` routes do it.

`list --json` and `show` print the objects `GET /v1/self-reports` answers: `{"reference", "created_at", "status",
"media_type", "md5", "sha256", "pdq", "pdq_quality", "age_band", "being_shared", "reviewed_by", "reviewed_at",
"vote_id", "vpdq_frames"}` (`show` adds the `vpdq` frames).
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from hashwarden.cli.common import DbOption, engine_for, out, self_report_app
from hashwarden.config import DEFAULT_GRADING_SCHEME, SELF_REPORT_SET

ReferenceArgument = Annotated[str, typer.Argument(help="The report's reference code (XXXX-XXXX-XXXX).")]
ReviewerOption = Annotated[Optional[str], typer.Option(
    "--reviewer", help="Who reviewed (default: the examiner, $HASHWARDEN_EXAMINER, else the OS user).")]
NoteOption = Annotated[Optional[str], typer.Option("--note", help="Why (kept with the review, audited).")]


@self_report_app.command("list")
def list_command(
    status: Annotated[Optional[str], typer.Option("--status", help="Only reports in this status: received, "
                                                  "confirmed or rejected.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per report.")] = False,
    db: DbOption = None,
) -> None:
    """The self-reports, oldest first: reference, when (to the minute), status, type, hashes and the reporter's flags.

    Example: hashwarden self-report list --status received
    """
    from hashwarden.store.self_reports import STATUSES, list_reports

    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="--status")
    found, after = [], None
    with engine_for(db, create=False).connect() as conn:
        while page := list_reports(conn, status, after, 1000):
            found += page
            after = page[-1].id
    if as_json:
        for report in found:
            out.print_json(json.dumps(report.as_json()))
        return
    table = Table("reference", "received", "status", "type", "sha256", "pdq", "age band", "shared")
    for report in found:
        table.add_row(*(escape(str(value)) for value in (
            report.reference, report.created_at[:16], report.status, report.media_type, report.sha256,
            report.pdq or f"vPDQ, {len(report.vpdq or [])} frames", report.age_band, report.being_shared)))
    out.print(table)


@self_report_app.command("show")
def show_command(reference: ReferenceArgument, db: DbOption = None) -> None:
    """One self-report as JSON, with a video's vPDQ frames."""
    from hashwarden.store.self_reports import get_report

    with engine_for(db, create=False).connect() as conn:
        report = get_report(conn, reference)
    out.print_json(json.dumps({**report.as_json(), "vpdq": report.vpdq}))


@self_report_app.command("confirm")
def confirm_command(
    reference: ReferenceArgument,
    category: Annotated[str, typer.Option("--category", help="The category under the scheme (a grading vote).")],
    scheme: Annotated[str, typer.Option("--scheme", help="The category scheme.")] = DEFAULT_GRADING_SCHEME,
    age_band: Annotated[str, typer.Option("--age-band", help="Your judgement of the age band (grade's values).")]
    = "unknown",
    reviewer: ReviewerOption = None,
    agency: Annotated[str, typer.Option("--agency", help="The reviewer's agency.")] = "",
    note: NoteOption = None,
    set_name: Annotated[str, typer.Option("--set", help="The self-report alert set it is published into.")]
    = SELF_REPORT_SET,
    db: DbOption = None,
) -> None:
    """Confirm a report by your grading vote on its media (audited; it counts toward the media's grade) and publish
    it into the self-report set (`hashwarden publish --set self-reports` ships the set to subscribers).

    Example: hashwarden self-report confirm 7KQM-3XDA-9PRT --category A --agency "Hotline A"
    """
    from hashwarden.grading.self_reports import confirm
    from hashwarden.grading.votes import default_reviewer

    with engine_for(db).begin() as conn:
        done = confirm(conn, reference, reviewer=reviewer or default_reviewer(), agency=agency, category=category,
                       scheme=scheme, attributes={"age_band": age_band}, note=note, set_name=set_name)
    out.print(f"self-report {escape(str(done.report.reference))} confirmed by vote {done.vote.id if done.vote else ''}"
              f"; set {escape(done.set)} version {done.revised.version}", highlight=False)


@self_report_app.command("reject")
def reject_command(reference: ReferenceArgument, reviewer: ReviewerOption = None, note: NoteOption = None,
                   set_name: Annotated[str, typer.Option("--set", help="The self-report set.")] = SELF_REPORT_SET,
                   db: DbOption = None) -> None:
    """Reject a report (audited); one confirmed before leaves the self-report set.

    Example: hashwarden self-report reject 7KQM-3XDA-9PRT --note "not what the report says"
    """
    from hashwarden.grading.self_reports import reject
    from hashwarden.grading.votes import default_reviewer

    with engine_for(db).begin() as conn:
        done = reject(conn, reference, reviewer=reviewer or default_reviewer(), note=note, set_name=set_name)
    out.print(f"self-report {escape(str(done.report.reference))} rejected", highlight=False)
